package deploy

import (
	"context"
	"encoding/json"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// Slots are stored facts too (store.SlotState): what release each slot
// runs, whether it is starting, running or stopped; StopAt, the stored
// latch "stop this slot at that time" that both scale-down (old release
// after success) and clean-up (new release after failure or abort) use;
// and StoppingSince, the latch "this slot's stop has begun" (stop.go).

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
		was.StoppingSince.Equal(s.StoppingSince) && string(was.Instances) == string(s.Instances) {
		return nil
	}
	if err := c.store.SaveSlot(ctx, c.app, s); err != nil {
		return err
	}
	c.log.Debug("slot saved", logSlot, s.Slot, logVersion, s.Version, "state", s.State, "stop_at", s.StopAt,
		"stopping_since", s.StoppingSince)
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

// tidySlots takes a step in stopping the slots that should no longer run:
// one whose StopAt has come, one left starting by a deployment that ended,
// one whose stop has begun (stop.go). It never touches the live slot, a
// slot with traffic, or the active deployment's slot; a slot that got
// traffic back is no longer stopping. It reports whether it acted (one
// side effect per pass) and when to come back for the slots it waits for
// (zero: none, or work beside the loop wakes it).
func (c *Controller) tidySlots(ctx context.Context, f facts) (acted bool, next time.Time, err error) {
	for _, name := range slot.All() {
		s := f.slots[name]
		if s.State == slot.Stopped || (f.active != nil && f.active.Slot == name) {
			continue
		}
		if f.serving(name) {
			if !s.StoppingSince.IsZero() {
				back := s
				back.StoppingSince = time.Time{}
				c.log.Info("slot no longer stopping: it gets traffic again", logSlot, name, logVersion, s.Version)
				return true, f.now, c.saveSlot(ctx, s, back)
			}
			continue
		}
		due := !s.StoppingSince.IsZero() || s.State == slot.Starting || (!s.StopAt.IsZero() && !f.now.Before(s.StopAt))
		if !due {
			if !s.StopAt.IsZero() {
				next = earliest(next, s.StopAt)
			}
			continue
		}
		why := "scale-down time reached"
		if s.State == slot.Starting {
			why = "left starting by a deployment that ended"
		}
		at, acted, err := c.stopSlot(ctx, f, s, why)
		if acted || err != nil {
			return acted, at, err
		}
		next = earliest(next, at)
	}
	return false, next, nil
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
