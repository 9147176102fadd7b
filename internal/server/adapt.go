package server

import (
	"fmt"
	"maps"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/deploy"
	"github.com/bluegreen-dev/bluegreen/internal/router"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// routerAdapter is the router as the controller drives it (deploy.Router).
type routerAdapter struct{ r *router.Router }

var _ deploy.Router = routerAdapter{}

// SetBackends gives slot new backends; new ones must pass the health
// threshold before they get traffic unless inRotation. Addresses already
// present keep their state, so re-adopted instances that serve traffic
// stay in rotation.
func (a routerAdapter) SetBackends(sl slot.Slot, addrs []string, inRotation bool) {
	a.r.SetBackends(sl, addrs, inRotation)
}

func (a routerAdapter) SetRoute(live slot.Slot, weights map[slot.Slot]int) error {
	return a.r.SetTable(router.Table{Live: live, Weights: maps.Clone(weights)})
}

func (a routerAdapter) Route() (slot.Slot, map[slot.Slot]int) {
	t := a.r.Table() // a copy
	return t.Live, t.Weights
}

func (a routerAdapter) SlotReady(sl slot.Slot) (healthy, total int) {
	return a.r.SlotReady(sl)
}

func (a routerAdapter) Drained(sl slot.Slot, since time.Time) (bool, time.Duration) {
	return a.r.Drained(sl, since)
}

// EndSlot ends the MCP sessions pinned to slot (their next requests are
// routed normally, and the new slot's 404 makes their clients start over),
// then what is in flight on it, streams cleanly, before its instances
// stop.
func (a routerAdapter) EndSlot(sl slot.Slot) {
	a.r.EndSessions(sl)
	a.r.EndSlot(sl, fmt.Errorf("slot %s is being stopped", sl))
}
