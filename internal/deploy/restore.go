package deploy

import (
	"context"
	"fmt"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// Restore rebuilds the world from the store when bluegreen starts, after a
// normal stop or a crash; call it once, before the listeners open and
// before Run, so that the first request after a restart goes where the
// last one before it went:
//
//   - with Options.SeedVersion, a slot that never ran a release is
//     recorded running it (the static driver's operator-run slots);
//   - the releases recorded running (and the one the active deployment is
//     starting) get their instances back: those the runtime reports
//     already running go into rotation at once (they served before;
//     health checks take out any that died), then Runtime.Start re-adopts
//     the release (keeps what runs, restarts what is gone) and the router
//     gets all its addresses;
//   - the stored route is applied.
//
// The active deployment needs nothing here: the loop continues it from its
// persisted phase and deadlines, and a stop that had begun goes on.
func (c *Controller) Restore(ctx context.Context) error {
	if err := c.restore(ctx); err != nil {
		return fmt.Errorf("restore %s: %w", c.app, err)
	}
	c.restored.Store(true)
	return nil
}

func (c *Controller) restore(ctx context.Context) error {
	if err := c.seed(ctx); err != nil {
		return err
	}
	f, err := c.observe(ctx)
	if err != nil {
		return err
	}
	for _, name := range slot.All() {
		s := f.slots[name]
		targeted := f.active != nil && f.active.Slot == name
		if s.Version == "" || !(s.State == slot.Running || s.State == slot.Starting && targeted) {
			continue
		}
		if addrs := c.runtime.Running(name); len(addrs) > 0 {
			c.router.SetBackends(name, addrs, true)
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
		c.router.SetBackends(name, addrs, false)
		adopted := s
		adopted.Instances = instancesJSON(addrs)
		if err := c.saveSlot(ctx, s, adopted); err != nil {
			return err
		}
		c.log.Info("slot re-adopted", logSlot, name, logVersion, s.Version, "instances", len(addrs))
	}
	if f.routed {
		if err := c.router.SetRoute(f.route.Live, f.route.Weights); err != nil {
			return fmt.Errorf("apply the stored route (live %s, weights %v): %w", f.route.Live, f.route.Weights, err)
		}
		c.log.Info("route table restored", "live", f.route.Live, "weights", f.route.Weights)
	}
	list, err := c.store.ListDeployments(ctx, c.app, 1)
	if err != nil {
		return err
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

// seed records, with Options.SeedVersion, every slot that never ran a
// release as running SeedVersion.
func (c *Controller) seed(ctx context.Context) error {
	if c.seedVersion == "" {
		return nil
	}
	slots, err := c.loadSlots(ctx)
	if err != nil {
		return err
	}
	for _, name := range slot.All() {
		if slots[name].Version != "" {
			continue
		}
		if err := c.store.SaveSlot(ctx, c.app, store.SlotState{Slot: name, Version: c.seedVersion, State: slot.Running}); err != nil {
			return fmt.Errorf("record slot %s running %s: %w", name, c.seedVersion, err)
		}
		c.log.Info("slot recorded running what the operator runs there", logSlot, name, logVersion, c.seedVersion)
	}
	return nil
}
