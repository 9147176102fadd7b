package deploy

import (
	"context"
	"encoding/json"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// Runtime runs releases in slots (the process, static and kubernetes
// drivers implement it).
type Runtime interface {
	// Start makes slot run version and returns its instances' addresses. It
	// is idempotent: if the slot already runs version, the running instances
	// are kept (re-adopted after a restart) and their addresses returned.
	Start(ctx context.Context, s slot.Slot, version string) ([]string, error)
	// Stop stops whatever runs in slot, also after a restart. Stopping an
	// empty slot does nothing.
	Stop(ctx context.Context, s slot.Slot) error
}

// Router is the data plane as the controller drives it.
type Router interface {
	// SetBackends replaces slot's backends; new ones start not yet healthy.
	SetBackends(s slot.Slot, addrs []string)
	// SetRoute swaps the route table: the live slot and the percent of
	// production traffic per slot (summing to 100).
	SetRoute(live slot.Slot, weights map[slot.Slot]int) error
	// Route is the route table in force.
	Route() (live slot.Slot, weights map[slot.Slot]int)
	// SlotReady counts slot's healthy backends out of all of them.
	SlotReady(s slot.Slot) (healthy, total int)
}

// Drainer is implemented by a Router that knows when a slot without
// production traffic is done with what it still serves (MCP sessions
// pinned to it). The controller does not stop a slot before it is drained.
type Drainer interface {
	// Drained reports whether slot may stop now, and if not, how long to
	// wait at most before asking again.
	Drained(s slot.Slot) (drained bool, wait time.Duration)
}

// Verifier checks a release through the preview route before any user
// traffic reaches it. A nil Verifier means health checks only.
type Verifier interface {
	// Verify runs the checks against slot. err means they could not run;
	// passed false means they ran and failed; report explains either way.
	Verify(ctx context.Context, s slot.Slot, version string) (passed bool, report json.RawMessage, err error)
}

// Clock tells the time and wakes the controller at deadlines; tests use a
// fake one.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// systemClock is the wall clock.
type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
