package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// Errors every implementation returns so callers can branch on them.
var (
	// ErrNotFound: the row asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a conditional write found another revision; someone else acted.
	ErrConflict = errors.New("conflict: state changed concurrently")
	// ErrActiveDeployment: a deployment is already active for this app.
	ErrActiveDeployment = errors.New("a deployment is already active")
	// ErrFenced: a fenced write (see Lease) was refused because the
	// writer's lease is no longer the one in force; another instance leads.
	ErrFenced = errors.New("refused: this instance no longer holds the controller lease")
	// ErrLeaseHeld: another instance holds the controller lease.
	ErrLeaseHeld = errors.New("the controller lease is held by another instance")
)

// Store is everything bluegreen persists. Every method is safe for
// concurrent use. Implementations: sqlite.Store, postgres.Store; both pass
// storetest.Run.
//
// Times come back in UTC, cut to the microsecond; the zero time is stored
// as "none". JSON fields (Data, Instances) must be valid JSON or empty, and
// come back equal in meaning (PostgreSQL may change spacing and key order).
type Store interface {
	// LoadRoute returns the stored route table, or ErrNotFound if none was saved.
	LoadRoute(ctx context.Context, app string) (Route, error)
	// SaveRoute stores the route table (last writer wins; the router is the only writer).
	SaveRoute(ctx context.Context, app string, r Route) error

	// LoadSlots returns what each slot runs; slots never saved are absent.
	LoadSlots(ctx context.Context, app string) ([]SlotState, error)
	// SaveSlot stores what one slot runs (upsert by app and slot).
	SaveSlot(ctx context.Context, app string, s SlotState) error

	// CreateDeployment inserts d (ID, Rev, CreatedAt, UpdatedAt are set on
	// return) and its first event. It returns ErrActiveDeployment, wrapped
	// with the active deployment's ID, if one is active for d.App.
	CreateDeployment(ctx context.Context, d *Deployment, first *Event) error
	// Transition writes d if its stored Rev equals d.Rev, appends ev (which
	// may be the zero Event to append nothing), and increments d.Rev and
	// sets d.UpdatedAt on success. App and CreatedAt are never changed.
	// A stale Rev gives ErrConflict, an unknown ID ErrNotFound, and making
	// d active while another deployment of the app is active
	// ErrActiveDeployment; none of them writes anything.
	Transition(ctx context.Context, d *Deployment, ev *Event) error
	// GetDeployment returns one deployment, or ErrNotFound.
	GetDeployment(ctx context.Context, id int64) (Deployment, error)
	// ActiveDeployment returns the app's active deployment, or ErrNotFound.
	ActiveDeployment(ctx context.Context, app string) (Deployment, error)
	// ListDeployments returns the newest deployments first, at most limit
	// (limit <= 0: all).
	ListDeployments(ctx context.Context, app string, limit int) ([]Deployment, error)
	// Events returns a deployment's events, oldest first (an unknown
	// deployment has none).
	Events(ctx context.Context, deploymentID int64) ([]Event, error)

	// SaveMCPSessions stores pins (upsert by app and ID) in one
	// transaction; an empty list writes nothing.
	SaveMCPSessions(ctx context.Context, app string, pins []MCPSession) error
	// DeleteMCPSessions removes the app's pins with these IDs in one
	// transaction; unknown IDs are ignored.
	DeleteMCPSessions(ctx context.Context, app string, ids []string) error
	// LoadMCPSessions returns the app's pins, most recently used first.
	LoadMCPSessions(ctx context.Context, app string) ([]MCPSession, error)

	// AppendAudit stores e (ID and, when zero, Time are set on return) and
	// prunes the app's entries beyond the newest AuditKeep.
	AppendAudit(ctx context.Context, e *AuditEntry) error
	// ListAudit returns the app's newest audit entries first, at most
	// limit (limit <= 0: all kept).
	ListAudit(ctx context.Context, app string, limit int) ([]AuditEntry, error)

	// SaveAdminSession stores a dashboard session (upsert by app and Key).
	SaveAdminSession(ctx context.Context, app string, s AdminSession) error
	// DeleteAdminSession removes the session with key; an unknown key is
	// not an error.
	DeleteAdminSession(ctx context.Context, app, key string) error
	// LoadAdminSessions deletes the app's sessions expired at now and
	// returns the others, oldest login first.
	LoadAdminSessions(ctx context.Context, app string, now time.Time) ([]AdminSession, error)

	Close() error
}

// Route is the persisted route table.
type Route struct {
	Live    slot.Slot         `json:"live"`
	Weights map[slot.Slot]int `json:"weights"` // percent per slot, sums to 100
	// Rev is set by SaveRoute: 1 for the first route saved, one more on
	// every save, so routers apply routes in order and never go back.
	Rev int64 `json:"rev"`
	// UpdatedAt is set by SaveRoute.
	UpdatedAt time.Time `json:"updated_at"`
}

// SlotState is what one slot runs.
type SlotState struct {
	Slot    slot.Slot `json:"slot"`
	Version string    `json:"version"` // "" when nothing was ever deployed there
	// State: running, stopped (scaled down), starting.
	State slot.State `json:"state"`
	// Instances is the driver's own record (pids, ports, pod names), opaque here.
	Instances json.RawMessage `json:"instances,omitempty"`
	// StopAt: when the warm old release is to be scaled down (zero: not scheduled).
	StopAt time.Time `json:"stop_at,omitzero"`
	// StoppingSince: when the controller began to stop the slot's release
	// (zero: it is not stopping). The release runs and drains until the
	// stop is done; State stays what it was.
	StoppingSince time.Time `json:"stopping_since,omitzero"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// MCPSession is one pinned MCP session (Streamable HTTP up to revision
// 2025-11-25): the router sends the requests carrying its Mcp-Session-Id
// to the slot and the instance that issued it. The router writes pins
// behind its request path and loads them when serve starts, so sessions
// survive a restart of serve.
type MCPSession struct {
	ID   string    `json:"id"` // the Mcp-Session-Id value
	Slot slot.Slot `json:"slot"`
	// Instance is the host:port that holds the session; "" pins the
	// session to any instance of Slot.
	Instance string `json:"instance"`
	// LastUsed is when the session was last seen (the idle TTL counts
	// from it); it is written coarsely, not on every request.
	LastUsed time.Time `json:"last_used"`
}

// Deployment is one attempt to take a release from idle to live.
// Phase names are owned by package deploy; the store treats them as text
// but knows which ones are terminal (Active == false).
type Deployment struct {
	ID  int64  `json:"id"`
	App string `json:"app"`
	// Kind: "deploy" (a new release) or "rollback" (back to the previous
	// release after a deployment succeeded).
	Kind        string    `json:"kind"`
	Version     string    `json:"version"`      // release being deployed
	Slot        slot.Slot `json:"slot"`         // slot it is deployed into (the idle one at start)
	FromVersion string    `json:"from_version"` // release live when it started ("" on first deploy)
	Strategy    string    `json:"strategy"`
	Phase       string    `json:"phase"`
	// Active is false once Phase is terminal; the store enforces at most one
	// active deployment per app.
	Active bool `json:"active"`
	// Paused holds the phase a paused deployment resumes into ("" if not paused).
	Paused string `json:"paused,omitempty"`
	Step   int    `json:"step"`   // strategy step index
	Weight int    `json:"weight"` // percent of production traffic on Slot
	// Deadline: when the current phase or step ends (zero: none). Persisted
	// so timers survive a restart.
	Deadline time.Time `json:"deadline,omitzero"`
	// TrafficMoved latches once any production traffic reached Slot.
	TrafficMoved bool   `json:"traffic_moved"`
	Reason       string `json:"reason,omitempty"` // why the last transition happened
	// Data holds controller-owned detail (analysis, check reports), opaque here.
	Data      json.RawMessage `json:"data,omitempty"`
	Rev       int64           `json:"rev"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
	EndedAt   time.Time       `json:"ended_at,omitzero"`
}

// Event is one entry of a deployment's log: a phase change or a notable fact.
type Event struct {
	ID           int64     `json:"id"`
	DeploymentID int64     `json:"deployment_id"`
	Time         time.Time `json:"time"` // zero: the store sets the write time
	Phase        string    `json:"phase"`
	Reason       string    `json:"reason"`
	// Data: numbers behind the event (weights, counts, analysis), JSON object.
	Data json.RawMessage `json:"data,omitempty"`
}

// IsZero reports whether ev is nil or the zero Event (Transition appends
// nothing).
func (ev *Event) IsZero() bool {
	return ev == nil || ev.Phase == "" && ev.Reason == "" && len(ev.Data) == 0
}

// Written records where an appended event landed: its ID, its deployment
// and its time (when the caller left it zero). Stores call it after commit.
func (ev *Event) Written(id, deploymentID int64, at time.Time) {
	ev.ID, ev.DeploymentID = id, deploymentID
	if ev.Time.IsZero() {
		ev.Time = at
	}
}
