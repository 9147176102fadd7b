package api

import (
	"encoding/json"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/analysis"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// Status is GET /api/v1/status: the controller's picture (route, slots,
// the active or last deployment), the router's live numbers and the
// driver's instances per slot.
type Status struct {
	App   string       `json:"app"`
	Route Route        `json:"route"`
	Slots []SlotStatus `json:"slots"`
	// Active is the deployment in progress; nil when none.
	Active *DeploymentStatus `json:"active,omitempty"`
	// Last is the newest deployment when none is active; nil if there was none.
	Last *DeploymentStatus `json:"last,omitempty"`
	// Router is the data plane's own view.
	Router RouterStatus `json:"router"`
	// Instances is the driver's description of each slot's instances,
	// by slot name; absent for a driver that has none (static).
	Instances map[string]any `json:"instances,omitempty"`
	// Cluster lists the serve processes sharing the state store and which
	// one leads; nil for a single process on SQLite.
	Cluster *ClusterStatus `json:"cluster,omitempty"`
}

// Route is the route table in force in the router.
type Route struct {
	Live    slot.Slot         `json:"live"`
	Weights map[slot.Slot]int `json:"weights"`
}

// SlotStatus is what one slot runs and how healthy it is.
type SlotStatus struct {
	Slot    slot.Slot  `json:"slot"`
	Version string     `json:"version"` // "" when nothing was ever deployed there
	State   slot.State `json:"state"`
	Live    bool       `json:"live"`
	Weight  int        `json:"weight"` // percent of production traffic
	Healthy int        `json:"healthy"`
	Total   int        `json:"total"`
	// StopAt is when the warm release stops (scale-down), if scheduled.
	StopAt time.Time `json:"stop_at,omitzero"`
}

// DeploymentStatus is one deployment as users see it.
type DeploymentStatus struct {
	ID          int64     `json:"id"`
	Kind        string    `json:"kind"`
	Version     string    `json:"version"`
	Slot        slot.Slot `json:"slot"`
	FromVersion string    `json:"from_version"`
	Strategy    string    `json:"strategy"`
	Phase       Phase     `json:"phase"`
	// PausedIn is the phase a paused deployment resumes into.
	PausedIn Phase `json:"paused_in,omitempty"`
	Step     int   `json:"step"`  // 0-based index into the strategy's steps
	Steps    int   `json:"steps"` // number of steps, the last being 100%
	Weight   int   `json:"weight"`
	// TimeLeft is what remains of the current step, bake or ready wait
	// (kept while paused); empty when nothing is timed.
	TimeLeft        string    `json:"time_left,omitempty"`
	TimeLeftSeconds float64   `json:"time_left_seconds"`
	Deadline        time.Time `json:"deadline,omitzero"`
	Reason          string    `json:"reason"` // why the last transition happened
	// Report is the verifier's report, Failure the data given with Fail.
	Report  json.RawMessage `json:"report,omitempty"`
	Failure json.RawMessage `json:"failure,omitempty"`
	// Analysis is the newest analysis window's verdict, with its numbers.
	Analysis  *analysis.Verdict `json:"analysis,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
	EndedAt   time.Time         `json:"ended_at,omitzero"`
}

// Slot returns the status of slot s, and whether st has it.
func (st Status) Slot(s slot.Slot) (SlotStatus, bool) {
	for _, ss := range st.Slots {
		if ss.Slot == s {
			return ss, true
		}
	}
	return SlotStatus{}, false
}

// ClusterStatus is Status.Cluster: the serve processes sharing the state
// store in PostgreSQL, as the one answering sees them.
type ClusterStatus struct {
	// Instance is the ID of the process that answered.
	Instance string `json:"instance"`
	// Leader: it holds the controller lease and runs the controller.
	Leader bool `json:"leader"`
	// Degraded: it cannot reach the state store and serves with the last
	// route it knew; StateError says why.
	Degraded   bool   `json:"degraded"`
	StateError string `json:"state_error,omitempty"`
	// RouteRev is the revision of the stored route its router applied, at
	// RouteAppliedAt.
	RouteRev       int64     `json:"route_rev"`
	RouteAppliedAt time.Time `json:"route_applied_at,omitzero"`
	// Instances are all the processes seen lately, by ID (from the last
	// heartbeat; the answering one included).
	Instances []InstanceStatus `json:"instances"`
}

// InstanceStatus is one serve process of a cluster.
type InstanceStatus struct {
	ID         string    `json:"id"`
	Admin      string    `json:"admin"`
	Production string    `json:"production"`
	RouteRev   int64     `json:"route_rev"`
	Leader     bool      `json:"leader"`
	Degraded   bool      `json:"degraded"`
	StartedAt  time.Time `json:"started_at"`
	LastSeen   time.Time `json:"last_seen"`
}
