package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// The route table is a stored fact (store.Route) and a state of the router.
// Only the controller writes it: it persists a route before applying it, so
// a restart re-applies what was last decided.

// fullRoute gives slot live all production traffic.
func fullRoute(live slot.Slot) store.Route {
	return store.Route{Live: live, Weights: map[slot.Slot]int{live: 100, live.Other(): 0}}
}

// splitRoute keeps the old slot live and gives the new slot weight percent.
func splitRoute(newSlot slot.Slot, weight int) store.Route {
	old := newSlot.Other()
	return store.Route{Live: old, Weights: map[slot.Slot]int{newSlot: weight, old: 100 - weight}}
}

// sameRoute compares route tables, a missing weight counting as zero.
func sameRoute(r store.Route, live slot.Slot, weights map[slot.Slot]int) bool {
	return r.Live == live && r.Weights[slot.Blue] == weights[slot.Blue] && r.Weights[slot.Green] == weights[slot.Green]
}

// loadRoute is the stored route; ok is false if none was ever saved.
func (c *Controller) loadRoute(ctx context.Context) (r store.Route, ok bool, err error) {
	r, err = c.store.LoadRoute(ctx, c.app)
	if errors.Is(err, store.ErrNotFound) {
		return store.Route{}, false, nil
	}
	if err != nil {
		return store.Route{}, false, err
	}
	return r, true, nil
}

// switchRoute makes r the route: it persists r (if the store differs), runs
// persist (the transition that announces it; nil for none), then applies r
// to the router (if it differs). It reports whether anything changed.
func (c *Controller) switchRoute(ctx context.Context, r store.Route, persist func() error) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	stored, ok, err := c.loadRoute(ctx)
	if err != nil {
		return false, fmt.Errorf("route %s to %s: %w", c.app, r.Live, err)
	}
	changed := false
	if !ok || !sameRoute(stored, r.Live, r.Weights) {
		if err := c.store.SaveRoute(ctx, c.app, r); err != nil {
			return false, fmt.Errorf("route %s to %s: %w", c.app, r.Live, err)
		}
		changed = true
	}
	if persist != nil {
		if err := persist(); err != nil {
			return changed, err
		}
	}
	live, weights := c.router.Route()
	if !sameRoute(r, live, weights) {
		if err := c.router.SetRoute(r.Live, r.Weights); err != nil {
			return changed, fmt.Errorf("route %s to %s %v: %w", c.app, r.Live, r.Weights, err)
		}
		c.log.Info("route switched", "live", r.Live, "weights", r.Weights)
		changed = true
	}
	return changed, nil
}

// ensureRoute makes both the stored route and the router's r.
func (c *Controller) ensureRoute(ctx context.Context, r store.Route) (bool, error) {
	return c.switchRoute(ctx, r, nil)
}

// syncRoute applies the stored route to the router if they differ (after a
// failed apply); with no stored route it does nothing.
func (c *Controller) syncRoute(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	stored, ok, err := c.loadRoute(ctx)
	if err != nil || !ok {
		return err
	}
	live, weights := c.router.Route()
	if sameRoute(stored, live, weights) {
		return nil
	}
	if err := c.router.SetRoute(stored.Live, stored.Weights); err != nil {
		return fmt.Errorf("restore route of %s to %s %v: %w", c.app, stored.Live, stored.Weights, err)
	}
	return nil
}

// SetRoute changes routing by hand, outside a deployment. live (if not
// empty) is the live slot; weights give percent per slot, a slot left out
// getting the rest; with no weights live gets 100%. Every slot given
// traffic must run a release. It refuses with store.ErrActiveDeployment
// while a deployment is active (it owns the route), and returns the route
// now in force.
func (c *Controller) SetRoute(ctx context.Context, live slot.Slot, weights map[slot.Slot]int) (store.Route, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	op := "route " + c.app + " by hand"
	active, err := c.store.ActiveDeployment(ctx, c.app)
	switch {
	case err == nil:
		return store.Route{}, fmt.Errorf("%s: %w: deployment %d (phase %s) owns the route; pause or abort it first",
			op, store.ErrActiveDeployment, active.ID, active.Phase)
	case !errors.Is(err, store.ErrNotFound):
		return store.Route{}, fmt.Errorf("%s: %w", op, err)
	}
	stored, _, err := c.loadRoute(ctx)
	if err != nil {
		return store.Route{}, fmt.Errorf("%s: %w", op, err)
	}
	r, err := manualRoute(stored.Live, live, weights)
	if err != nil {
		return store.Route{}, fmt.Errorf("%s: %w: %w", op, ErrInvalid, err)
	}
	slots, err := c.loadSlots(ctx)
	if err != nil {
		return store.Route{}, fmt.Errorf("%s: %w", op, err)
	}
	for _, s := range slot.All() {
		if (r.Weights[s] > 0 || s == r.Live) && slots[s].State != slot.Running {
			return store.Route{}, fmt.Errorf("%s: %w: slot %s runs no healthy release", op, ErrNotAllowed, s)
		}
	}
	if err := c.store.SaveRoute(ctx, c.app, r); err != nil {
		return store.Route{}, fmt.Errorf("%s: %w", op, err)
	}
	if err := c.router.SetRoute(r.Live, r.Weights); err != nil {
		return store.Route{}, fmt.Errorf("%s: %w", op, err)
	}
	c.log.Info("route set by hand", "live", r.Live, "weights", r.Weights)
	if err := c.rescheduleScaleDown(ctx, slots, r); err != nil {
		return store.Route{}, fmt.Errorf("%s: %w", op, err)
	}
	c.poke() // a slot that lost its traffic may be due to stop
	// The stored route, with the time the store gave it.
	saved, err := c.store.LoadRoute(ctx, c.app)
	if err != nil {
		return store.Route{}, fmt.Errorf("%s: read back: %w", op, err)
	}
	return saved, nil
}

// rescheduleScaleDown keeps the scale-down schedule true to a route set
// by hand: a running slot left without traffic stays warm for
// scale_down_delay from now, then stops, as the old slot does after a
// deployment; a slot that gets traffic is no longer scheduled to stop
// (it gets a fresh delay when it loses its traffic again).
func (c *Controller) rescheduleScaleDown(ctx context.Context, slots map[slot.Slot]store.SlotState, r store.Route) error {
	now := c.clock.Now()
	for _, name := range slot.All() {
		s := slots[name]
		if s.State != slot.Running {
			continue
		}
		serving := r.Live == name || r.Weights[name] > 0
		next := s
		switch {
		case serving && !s.StopAt.IsZero():
			next.StopAt = time.Time{}
		case !serving && s.StopAt.IsZero() && s.StoppingSince.IsZero():
			next.StopAt = now.Add(c.scaleDownDelay)
			c.log.Info("slot lost its traffic by hand: stays warm until its scale-down", logSlot, name, logVersion, s.Version, "scale_down_at", next.StopAt)
		default:
			continue
		}
		if err := c.saveSlot(ctx, s, next); err != nil {
			return err
		}
	}
	return nil
}

// manualRoute completes a hand-made route request against the current
// live slot.
func manualRoute(current, live slot.Slot, weights map[slot.Slot]int) (store.Route, error) {
	if live != "" && !live.Valid() {
		return store.Route{}, fmt.Errorf("unknown slot %q (want blue or green)", live)
	}
	if live == "" && len(weights) == 0 {
		return store.Route{}, errors.New("give a live slot or weights")
	}
	sum := 0
	for s, w := range weights {
		if !s.Valid() {
			return store.Route{}, fmt.Errorf("unknown slot %q (want blue or green)", s)
		}
		if w < 0 || w > 100 {
			return store.Route{}, fmt.Errorf("weight of %s must be from 0%% to 100%%, not %d%%", s, w)
		}
		sum += w
	}
	w := map[slot.Slot]int{slot.Blue: 0, slot.Green: 0}
	switch len(weights) {
	case 0:
		w[live] = 100
	case 1:
		for s, n := range weights {
			w[s], w[s.Other()] = n, 100-n
		}
	default:
		if sum != 100 {
			return store.Route{}, fmt.Errorf("weights must add up to 100%%, not %d%%", sum)
		}
		for s, n := range weights {
			w[s] = n
		}
	}
	if live == "" {
		live = current
	}
	if live == "" { // nothing was live: the slot with the most traffic
		live = slot.Blue
		if w[slot.Green] > w[slot.Blue] {
			live = slot.Green
		}
	}
	return store.Route{Live: live, Weights: w}, nil
}
