package deploy

import (
	"context"
	"fmt"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// restore rebuilds the world from the store when Run starts, after a
// normal stop or a crash: releases recorded running (and the one the
// active deployment is starting) are re-adopted with Runtime.Start, which
// keeps instances that still run and restarts those that are gone; their
// addresses go to the router; then the stored route is applied. The active
// deployment needs nothing here: the loop continues it from its persisted
// phase and deadlines.
func (c *Controller) restore(ctx context.Context) error {
	f, err := c.observe(ctx)
	if err != nil {
		return fmt.Errorf("restore %s: %w", c.app, err)
	}
	for _, name := range slot.All() {
		s := f.slots[name]
		targeted := f.active != nil && f.active.Slot == name
		if s.Version == "" || !(s.State == slot.Running || s.State == slot.Starting && targeted) {
			continue
		}
		addrs, err := c.runtime.Start(ctx, name, s.Version)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// The loop goes on: a live slot that cannot start shows in
			// status and the router's health; a deployment retries.
			c.log.Error("re-adopt slot", logSlot, name, logVersion, s.Version, "error", err)
			continue
		}
		c.router.SetBackends(name, addrs)
		adopted := s
		adopted.Instances = instancesJSON(addrs)
		if err := c.saveSlot(ctx, s, adopted); err != nil {
			return fmt.Errorf("restore %s: %w", c.app, err)
		}
		c.log.Info("slot re-adopted", logSlot, name, logVersion, s.Version, "instances", len(addrs))
	}
	if f.routed {
		if err := c.router.SetRoute(f.route.Live, f.route.Weights); err != nil {
			c.log.Error("restore route", "live", f.route.Live, "weights", f.route.Weights, "error", err)
		}
	}
	list, err := c.store.ListDeployments(ctx, c.app, 1)
	if err != nil {
		return fmt.Errorf("restore %s: %w", c.app, err)
	}
	if len(list) > 0 {
		c.setPhaseGauge(Phase(list[0].Phase))
	}
	if d := f.active; d != nil {
		c.log.Info("resuming deployment", logDeploymentID, d.ID, logVersion, d.Version, logSlot, d.Slot,
			logPhase, d.Phase, "step", d.Step, "weight", d.Weight, "deadline", d.Deadline)
	}
	return nil
}
