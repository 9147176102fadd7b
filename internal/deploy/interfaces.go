package deploy

import (
	"context"
	"encoding/json"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// The controller's interfaces: what it needs of the world around it. The
// server implements them over the drivers and the router; the tests over
// fakes.

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
	// Running lists the addresses of the instances already running in slot
	// when bluegreen starts: left by the previous run (after a crash), or
	// run by the operator (the static driver). Nil when none.
	Running(s slot.Slot) []string
	// Stuck says why an instance of slot cannot start without a change to
	// the release or its environment (an image that cannot be pulled, a
	// process that exits at once), or "" when none is stuck or the driver
	// cannot tell. The controller fails the deployment at once with it
	// instead of waiting for the ready timeout. An error means it could
	// not look; the controller keeps waiting.
	Stuck(ctx context.Context, s slot.Slot) (string, error)
}

// Router is the data plane as the controller drives it. None of its
// methods waits long: the reconcile loop calls them inline, except
// EndSlot, which it calls beside the loop.
type Router interface {
	// SetBackends replaces slot's backends. Addresses already present keep
	// their state; new ones get traffic once they pass the health checks,
	// or at once when inRotation (instances that served before a restart).
	SetBackends(s slot.Slot, addrs []string, inRotation bool)
	// SetRoute swaps the route table: the live slot and the percent of
	// production traffic per slot (summing to 100).
	SetRoute(live slot.Slot, weights map[slot.Slot]int) error
	// Route is the route table in force.
	Route() (live slot.Slot, weights map[slot.Slot]int)
	// SlotReady counts slot's healthy backends out of all of them.
	SlotReady(s slot.Slot) (healthy, total int)
	// Drained reports, without waiting, whether slot, which gets no
	// production traffic and began to stop at since, is done with what it
	// still serves: no MCP session pinned to it (or routing.session_drain
	// has passed since it lost its traffic) and no request or stream in
	// flight (or routing.drain_timeout has passed). If not, wait is how
	// long to wait at most before asking again.
	Drained(s slot.Slot, since time.Time) (drained bool, wait time.Duration)
	// EndSlot ends what is left on slot before its instances stop: its MCP
	// sessions, and the requests and streams still in flight (requests are
	// cancelled, streams end cleanly). It returns once they are over, or
	// after a grace of a few seconds.
	EndSlot(s slot.Slot)
}

// Verifier checks a release through the preview route before any user
// traffic reaches it. A nil Verifier means health checks only.
type Verifier interface {
	// Verify runs the checks against slot. err means they could not run;
	// passed false means they ran and failed; report explains either way.
	// It may take minutes: the controller runs it beside its loop and
	// cancels ctx when the result is no longer needed.
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
