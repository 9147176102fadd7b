package deploy

import (
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

var _ Drainer = (*fakeRouter)(nil)

// Drained makes the fake router a Drainer: a slot set with setUndrained
// is not drained.
func (r *fakeRouter) Drained(sl slot.Slot) (bool, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	wait, waiting := r.undrained[sl]
	return !waiting, wait
}

func (r *fakeRouter) setUndrained(sl slot.Slot, wait time.Duration, undrained bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.undrained == nil {
		r.undrained = map[slot.Slot]time.Duration{}
	}
	if undrained {
		r.undrained[sl] = wait
	} else {
		delete(r.undrained, sl)
	}
}

// The warm old slot is not stopped at its scale-down time while the router
// says it is not drained (MCP sessions still pinned to it); the controller
// asks again after the wait the router gives, and stops it once drained.
func TestScaleDownWaitsForTheDrain(t *testing.T) {
	h := newHarness(t, nil)
	h.seed(true) // v2 live on green, v1 warm on blue
	stopAt := h.slot(slot.Blue).StopAt
	h.router.setUndrained(slot.Blue, 2*time.Minute, true)
	h.drive("three checks past blue's stop time", func() bool {
		return h.clock.Now().After(stopAt.Add(5 * time.Minute))
	})
	if s := h.slot(slot.Blue); s.State != slot.Running || h.rt.runs(slot.Blue) != "v1" {
		t.Fatalf("blue = %+v runs %q before it drained; want v1 running", s, h.rt.runs(slot.Blue))
	}
	h.router.setUndrained(slot.Blue, 0, false)
	drainedAt := h.clock.Now()
	h.drive("blue scaled down", func() bool { return h.slot(slot.Blue).State == slot.Stopped })
	if h.rt.runs(slot.Blue) != "" {
		t.Errorf("runtime still runs %q in blue", h.rt.runs(slot.Blue))
	}
	if late := h.clock.Now().Sub(drainedAt); late > 2*time.Minute {
		t.Errorf("stopped %s after the drain ended, want within the 2m wait", late)
	}
}
