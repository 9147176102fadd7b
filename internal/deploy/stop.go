package deploy

import (
	"context"
	"fmt"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// Stopping a slot takes several passes, so that the loop never waits for a
// drain (an abort or a rollback meanwhile acts at once):
//
//  1. the slot's StoppingSince is stored: its stop has begun;
//  2. the router is asked whether the slot is drained (Router.Drained: MCP
//     sessions, then requests and streams in flight up to
//     routing.drain_timeout); until it is, the loop comes back after the
//     wait the router gives;
//  3. the router ends what is left (Router.EndSlot: sessions, requests,
//     streams cleanly), beside the loop, which its end wakes;
//  4. the runtime stops the release, the router drops its backends, and
//     the slot is stored stopped.
//
// After a restart the stop goes on from the stored StoppingSince (step 3
// runs again, harmlessly). A slot that gets traffic again is no longer
// stopping.

// minDrainRecheck keeps a router that answers "not drained, ask again
// now" from spinning the loop.
const minDrainRecheck = 10 * time.Millisecond

// stopSlot takes the next step in stopping slot s. It reports when to come
// back (zero: the end of work beside the loop wakes it) and whether it
// acted, which ends the pass.
func (c *Controller) stopSlot(ctx context.Context, f facts, s store.SlotState, why string) (next time.Time, acted bool, err error) {
	if s.StoppingSince.IsZero() {
		stopping := s
		stopping.StoppingSince = f.now
		if err := c.saveSlot(ctx, s, stopping); err != nil {
			return time.Time{}, false, fmt.Errorf("stop slot %s (%s) of %s: %w", s.Slot, s.Version, c.app, err)
		}
		c.log.Info("slot stopping", logSlot, s.Slot, logVersion, s.Version, "why", why)
		return f.now, true, nil
	}
	key := endKey(s)
	end, ending := c.besideState(key)
	if !ending {
		if drained, wait := c.router.Drained(s.Slot, s.StoppingSince); !drained {
			c.log.Debug("slot stopping waits for its drain", logSlot, s.Slot, "wait", wait)
			return f.now.Add(max(wait, minDrainRecheck)), false, nil
		}
		end = c.beside(ctx, key, stillStopping(s), func(context.Context) error {
			c.router.EndSlot(s.Slot)
			return nil
		})
	}
	if !end.done {
		return time.Time{}, false, nil
	}
	if err := c.runtime.Stop(ctx, s.Slot); err != nil {
		return time.Time{}, false, fmt.Errorf("stop slot %s (%s) of %s: %w", s.Slot, s.Version, c.app, err)
	}
	c.router.SetBackends(s.Slot, nil, false)
	stopped := store.SlotState{Slot: s.Slot, Version: s.Version, State: slot.Stopped}
	if err := c.store.SaveSlot(ctx, c.app, stopped); err != nil {
		return time.Time{}, false, fmt.Errorf("stop slot %s (%s) of %s: %w", s.Slot, s.Version, c.app, err)
	}
	c.forget(key)
	c.log.Info("slot stopped", logSlot, s.Slot, logVersion, s.Version, "why", why,
		"stopping_for", f.now.Sub(s.StoppingSince))
	return f.now, true, nil
}

// endKey names the end of s's current stop among the work beside the
// loop.
func endKey(s store.SlotState) string {
	return fmt.Sprintf("end slot %s stopping since %s", s.Slot, s.StoppingSince.Format(time.RFC3339Nano))
}

// stillStopping is true while the facts say s is in the stop it was in.
func stillStopping(s store.SlotState) func(facts) bool {
	return func(f facts) bool {
		now := f.slots[s.Slot]
		return now.State != slot.Stopped && now.StoppingSince.Equal(s.StoppingSince) && !f.serving(s.Slot)
	}
}
