package deploy

import (
	"context"
	"errors"
	"fmt"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// Rollback goes back to the release that was live before the newest
// successful deployment, as a new deployment of kind "rollback" into the
// idle slot:
//
//   - while the old slot is warm (still running that release and healthy)
//     it is one route swap: pending → succeeded;
//   - once it was scaled down, the old release is started again and the
//     route swaps only when every instance is healthy: pending →
//     provisioning → waiting_ready → succeeded. There is no verifying and no
//     gradual shift: that release was live a moment ago.
//
// The release rolled back from then stays warm for ScaleDownDelay, like any
// old slot, so a second Rollback goes forward again. During an active
// deployment Rollback is Abort and returns the aborted deployment. It
// waits until the loop has left pending (the swap is done when warm), and
// returns ErrNothingToRollBack when no earlier release exists.
func (c *Controller) Rollback(ctx context.Context) (store.Deployment, error) {
	op := "roll back " + c.app
	active, err := c.store.ActiveDeployment(ctx, c.app)
	switch {
	case err == nil:
		if err := c.Abort(ctx); err != nil {
			return store.Deployment{}, fmt.Errorf("%s: %w", op, err)
		}
		d, err := c.store.GetDeployment(ctx, active.ID)
		if err != nil {
			return store.Deployment{}, fmt.Errorf("%s: %w", op, err)
		}
		return d, nil
	case !errors.Is(err, store.ErrNotFound):
		return store.Deployment{}, fmt.Errorf("%s: %w", op, err)
	}
	d, err := c.createRollback(ctx, op)
	if err != nil {
		return store.Deployment{}, err
	}
	c.poke()
	if err := c.await(ctx, d.ID, func(p Phase) bool { return p != PhasePending }); err != nil {
		return d, fmt.Errorf("%s: %w", op, err)
	}
	if d, err = c.store.GetDeployment(ctx, d.ID); err != nil {
		return store.Deployment{}, fmt.Errorf("%s: %w", op, err)
	}
	return d, nil
}

// createRollback records the pending rollback deployment.
func (c *Controller) createRollback(ctx context.Context, op string) (store.Deployment, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	list, err := c.store.ListDeployments(ctx, c.app, 0)
	if err != nil {
		return store.Deployment{}, fmt.Errorf("%s: %w", op, err)
	}
	var last *store.Deployment
	for i := range list {
		if Phase(list[i].Phase) == PhaseSucceeded {
			last = &list[i]
			break
		}
	}
	if last == nil {
		return store.Deployment{}, fmt.Errorf("%s: %w: no deployment has succeeded yet", op, ErrNothingToRollBack)
	}
	if last.FromVersion == "" {
		return store.Deployment{}, fmt.Errorf("%s: %w: %s (deployment %d) was the first release",
			op, ErrNothingToRollBack, last.Version, last.ID)
	}
	route, routed, err := c.loadRoute(ctx)
	if err != nil {
		return store.Deployment{}, fmt.Errorf("%s: %w", op, err)
	}
	if !routed || route.Live != last.Slot {
		return store.Deployment{}, fmt.Errorf("%s: %w: the route was changed by hand after deployment %d (live is %q, not %s); route it by hand",
			op, ErrNotAllowed, last.ID, route.Live, last.Slot)
	}
	slots, err := c.loadSlots(ctx)
	if err != nil {
		return store.Deployment{}, fmt.Errorf("%s: %w", op, err)
	}
	target := last.Slot.Other()
	d := store.Deployment{
		App: c.app, Kind: KindRollback, Version: last.FromVersion, Slot: target,
		FromVersion: slots[last.Slot].Version, Phase: string(PhasePending), Active: true,
	}
	s := slots[target]
	warm := s.State == slot.Running && s.Version == d.Version
	reason := fmt.Sprintf("roll back to %s in %s (from %s on %s): ", d.Version, target, d.FromVersion, last.Slot)
	if warm {
		reason += "still warm, a route swap"
	} else {
		reason += "scaled down, restart it and swap once healthy"
	}
	ev, err := pendingEvent(c.clock.Now(), reason, map[string]any{"warm": warm})
	if err != nil {
		return store.Deployment{}, fmt.Errorf("%s: %w", op, err)
	}
	if err := c.store.CreateDeployment(ctx, &d, &ev); err != nil {
		return store.Deployment{}, fmt.Errorf("%s: %w", op, err)
	}
	c.announce(ev, "")
	return d, nil
}
