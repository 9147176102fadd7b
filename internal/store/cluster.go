package store

import (
	"encoding/json"
	"fmt"
	"time"
)

// Several serve processes may share one PostgreSQL database (high
// availability). They agree on one leader with a Lease, and each records
// itself as an Instance. The SQLite store is for one process and has
// neither.

// Lease is the controller lease of one app: the instance holding it runs
// the reconcile loop. Token grows by one each time the lease changes hands
// (or is taken again after it lapsed); every write the controller makes
// through a fenced store carries it, and the store refuses the write
// (ErrFenced) unless it is still the token in force and the lease has not
// expired by the database's clock.
type Lease struct {
	App    string `json:"app"`
	Holder string `json:"holder"` // instance ID
	Token  int64  `json:"token"`
	// Expires is when the lease lapses unless renewed, by the database's clock.
	Expires time.Time `json:"expires"`
}

// Instance is one serve process as the others see it: written by itself
// every heartbeat.
type Instance struct {
	ID string `json:"id"`
	// Admin is the address of its admin listener (where commands are
	// forwarded to the leader); Production of its production listener.
	Admin      string `json:"admin"`
	Production string `json:"production"`
	// RouteRev is the revision of the route table its router applied.
	RouteRev int64 `json:"route_rev"`
	Leader   bool  `json:"leader"`
	// Degraded: it could not reach the state store at its last attempt
	// and serves with the route it last knew (written once it is back).
	Degraded  bool      `json:"degraded"`
	StartedAt time.Time `json:"started_at"`
	// LastSeen is the time of its last heartbeat, by the database's clock.
	LastSeen time.Time `json:"last_seen"`
	// Counts is its router's cumulative per-slot counts (opaque here): the
	// leader sums every instance's for analysis.
	Counts json.RawMessage `json:"counts,omitempty"`
}

// FencedError is ErrFenced as the database found it: a write carried
// Token, and the lease stored is another (InForce, held by Holder) or the
// same one expired by the database's clock. errors.Is(err, ErrFenced).
type FencedError struct {
	App   string
	Token int64 // the writer's fencing token
	// InForce is the token stored (0: no lease of App is stored), Holder
	// the instance holding it.
	InForce int64
	Holder  string
	// Expired: the stored lease is still the writer's, expired.
	Expired bool
}

func (e *FencedError) Error() string {
	switch {
	case e.InForce == 0:
		return fmt.Sprintf("%v (fencing token %d; no lease of %s is stored)", ErrFenced, e.Token, e.App)
	case e.Expired:
		return fmt.Sprintf("%v (fencing token %d expired in the database)", ErrFenced, e.Token)
	case e.Token < e.InForce:
		return fmt.Sprintf("%v (fencing token %d < %d, held by %s)", ErrFenced, e.Token, e.InForce, e.Holder)
	}
	return fmt.Sprintf("%v (its fencing token is %d; token %d of %s is in force)", ErrFenced, e.Token, e.InForce, e.Holder)
}

func (e *FencedError) Unwrap() error { return ErrFenced }
