package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// Slots are stored facts too (store.SlotState): what release each slot
// runs, whether it is starting, running or stopped, and StopAt, the stored
// latch "stop this slot at that time" that both scale-down (old release
// after success) and clean-up (new release after failure or abort) use.

// loadSlots returns the stored slots by name; absent slots are stopped and
// empty.
func (c *Controller) loadSlots(ctx context.Context) (map[slot.Slot]store.SlotState, error) {
	list, err := c.store.LoadSlots(ctx, c.app)
	if err != nil {
		return nil, err
	}
	slots := map[slot.Slot]store.SlotState{
		slot.Blue:  {Slot: slot.Blue, State: slot.Stopped},
		slot.Green: {Slot: slot.Green, State: slot.Stopped},
	}
	for _, s := range list {
		if s.Slot.Valid() {
			slots[s.Slot] = s
		}
	}
	return slots, nil
}

// saveSlot stores s if it differs from was (what was read this pass).
func (c *Controller) saveSlot(ctx context.Context, was, s store.SlotState) error {
	if was.Version == s.Version && was.State == s.State && was.StopAt.Equal(s.StopAt) &&
		string(was.Instances) == string(s.Instances) {
		return nil
	}
	if err := c.store.SaveSlot(ctx, c.app, s); err != nil {
		return err
	}
	c.log.Debug("slot saved", logSlot, s.Slot, logVersion, s.Version, "state", s.State, "stop_at", s.StopAt)
	return nil
}

// instancesJSON is the slot record of a release's addresses.
func instancesJSON(addrs []string) json.RawMessage {
	b, err := json.Marshal(map[string][]string{"addrs": addrs})
	if err != nil {
		return nil
	}
	return b
}

// tidySlots stops at most one slot that should no longer run: one whose
// StopAt has come, or one left starting by a deployment that ended. It
// never touches the live slot, a slot with traffic, or the active
// deployment's slot, and waits for a slot the router (a Drainer) does not
// call drained yet. It reports whether it acted, and when a scheduled stop
// is next due (zero: none).
func (c *Controller) tidySlots(ctx context.Context, f facts) (acted bool, next time.Time, err error) {
	for _, name := range slot.All() {
		s := f.slots[name]
		if s.State == slot.Stopped || f.serving(name) || (f.active != nil && f.active.Slot == name) {
			continue
		}
		due := s.State == slot.Starting || (!s.StopAt.IsZero() && !f.now.Before(s.StopAt))
		if !due {
			if !s.StopAt.IsZero() {
				next = earliest(next, s.StopAt)
			}
			continue
		}
		if d, ok := c.router.(Drainer); ok {
			if drained, wait := d.Drained(name); !drained {
				next = earliest(next, f.now.Add(max(wait, c.poll)))
				c.log.Debug("slot due to stop waits for its drain", logSlot, name, "wait", wait)
				continue
			}
		}
		why := "scale-down time reached"
		if s.State == slot.Starting {
			why = "left starting by a deployment that ended"
		}
		return true, f.now, c.stopSlot(ctx, s, why)
	}
	return false, next, nil
}

// stopSlot stops slot s and records it stopped. Stop is idempotent, so
// stopping first and recording after is safe to repeat after a crash.
func (c *Controller) stopSlot(ctx context.Context, s store.SlotState, why string) error {
	if err := c.runtime.Stop(ctx, s.Slot); err != nil {
		return fmt.Errorf("stop slot %s (%s) of %s: %w", s.Slot, s.Version, c.app, err)
	}
	c.router.SetBackends(s.Slot, nil)
	stopped := store.SlotState{Slot: s.Slot, Version: s.Version, State: slot.Stopped}
	if err := c.store.SaveSlot(ctx, c.app, stopped); err != nil {
		return fmt.Errorf("stop slot %s (%s) of %s: %w", s.Slot, s.Version, c.app, err)
	}
	c.log.Info("slot stopped", logSlot, s.Slot, logVersion, s.Version, "why", why)
	return nil
}

// earliest is the earlier of two times, a zero time meaning "never".
func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}
