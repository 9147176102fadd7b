package deploy

import (
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// The drain a slot gets before its release stops lasts as long as the
// router says, over as many passes as it takes; nothing waits for it.
const testDrain = 30 * time.Second

// The warm old slot is not stopped at its scale-down time while the router
// says it is not drained; the controller stores that its stop began, asks
// again after the wait the router gives (with that start), and once
// drained ends what is left and stops it.
func TestScaleDownWaitsForTheDrain(t *testing.T) {
	h := newHarness(t, nil)
	h.seed(true) // v2 live on green, v1 warm on blue
	stopAt := h.slot(slot.Blue).StopAt
	h.router.setUndrained(slot.Blue, 2*time.Minute, true)
	h.drive("three checks past blue's stop time", func() bool {
		return h.clock.Now().After(stopAt.Add(5 * time.Minute))
	})
	s := h.slot(slot.Blue)
	if s.State != slot.Running || h.rt.runs(slot.Blue) != "v1" || h.router.endCount(slot.Blue) != 0 {
		t.Fatalf("blue = %+v runs %q, ended %d times, before it drained; want v1 running", s, h.rt.runs(slot.Blue), h.router.endCount(slot.Blue))
	}
	if !s.StoppingSince.Equal(stopAt) || !h.router.askedSince(slot.Blue).Equal(stopAt) {
		t.Errorf("blue stopping since %v, router asked with %v; want both %v", s.StoppingSince, h.router.askedSince(slot.Blue), stopAt)
	}
	h.router.setUndrained(slot.Blue, 0, false)
	drainedAt := h.clock.Now()
	h.drive("blue scaled down", func() bool { return h.slot(slot.Blue).State == slot.Stopped })
	if h.rt.runs(slot.Blue) != "" || h.router.endCount(slot.Blue) != 1 {
		t.Errorf("runtime still runs %q in blue, ended %d times; want stopped, ended once", h.rt.runs(slot.Blue), h.router.endCount(slot.Blue))
	}
	if s := h.slot(slot.Blue); !s.StoppingSince.IsZero() {
		t.Errorf("stopped blue still stopping since %v", s.StoppingSince)
	}
	if late := h.clock.Now().Sub(drainedAt); late > 2*time.Minute {
		t.Errorf("stopped %s after the drain ended, want within the 2m wait", late)
	}
}

// drainingBlue makes v2 live on green with v1 on blue stopping (scale-down
// time reached) and the router saying blue has 30s of drain left; the
// controller sleeps meanwhile.
func drainingBlue(t *testing.T, h *harness) time.Time {
	t.Helper()
	h.seed(true)
	h.router.setUndrained(slot.Blue, testDrain, true)
	stopAt := h.slot(slot.Blue).StopAt
	h.drive("blue stopping", func() bool { return !h.slot(slot.Blue).StoppingSince.IsZero() })
	h.idle()
	if h.rt.runs(slot.Blue) != "v1" {
		t.Fatalf("blue runs %q, want v1 while it drains", h.rt.runs(slot.Blue))
	}
	return stopAt
}

// A rollback issued while the old slot drains for 30s takes effect within
// one reconcile pass: blue is still warm, so the route swaps back to it
// at once, and blue is no longer stopping.
func TestRollbackWhileTheOldSlotDrains(t *testing.T) {
	h := newHarness(t, nil)
	drainingBlue(t, h)
	issued := h.clock.Now()
	d, err := h.c.Rollback(h.ctx())
	if err != nil {
		t.Fatal(err)
	}
	h.idle()
	d = h.get(d.ID)
	if Phase(d.Phase) != PhaseSucceeded || d.Kind != KindRollback || d.Slot != slot.Blue {
		t.Fatalf("rollback = %s %s into %s (%s), want a succeeded rollback into blue", d.Kind, d.Phase, d.Slot, d.Reason)
	}
	if got := lastEvent(t, h.events(d.ID), PhaseSucceeded).Time; !got.Equal(issued) {
		t.Errorf("rolled back at %v, want at once (%v), not after blue's drain", got, issued)
	}
	h.assertRoute(slot.Blue, 100, 0)
	if s := h.slot(slot.Blue); s.State != slot.Running || !s.StoppingSince.IsZero() || !s.StopAt.IsZero() {
		t.Errorf("blue = %+v, want running, not stopping", s)
	}
	if h.rt.stopCount(slot.Blue) != 0 || h.router.endCount(slot.Blue) != 0 {
		t.Errorf("blue stopped %d times, ended %d times; want neither", h.rt.stopCount(slot.Blue), h.router.endCount(slot.Blue))
	}
	if s := h.slot(slot.Green); s.State != slot.Running || s.StopAt.IsZero() {
		t.Errorf("green = %+v, want warm with a scale-down time", s)
	}
}

// A deployment into the slot that drains waits in provisioning for the
// drain; an abort issued meanwhile takes effect within one reconcile pass,
// and the stop that had begun goes on once the slot is drained.
func TestAbortWhileTheReplacedSlotDrains(t *testing.T) {
	h := newHarness(t, nil)
	h.seed(true) // v2 live on green, v1 warm on blue
	h.router.setUndrained(slot.Blue, testDrain, true)
	d := h.deploy("v3", "")
	h.drive("blue stopping for v3", func() bool { return !h.slot(slot.Blue).StoppingSince.IsZero() })
	st := h.idle()
	if got := h.get(d.ID); Phase(got.Phase) != PhaseProvisioning || h.rt.startCount(slot.Blue, "v3") != 0 {
		t.Fatalf("v3 is %s, started %d times; want provisioning, waiting for blue's drain", got.Phase, h.rt.startCount(slot.Blue, "v3"))
	}
	if st.until.IsZero() || st.until.After(h.clock.Now().Add(testDrain)) {
		t.Errorf("the loop sleeps until %v, want to ask again within the router's 30s", st.until)
	}
	issued := h.clock.Now()
	if err := h.c.Abort(h.ctx()); err != nil {
		t.Fatal(err)
	}
	h.idle()
	d = h.get(d.ID)
	if Phase(d.Phase) != PhaseAborted {
		t.Fatalf("v3 = %s (%s), want aborted", d.Phase, d.Reason)
	}
	if got := lastEvent(t, h.events(d.ID), PhaseAborted).Time; !got.Equal(issued) {
		t.Errorf("aborted at %v, want at once (%v), not after blue's drain", got, issued)
	}
	h.assertRoute(slot.Green, 0, 100)
	if h.rt.runs(slot.Blue) != "v1" || h.rt.startCount(slot.Blue, "v3") != 0 {
		t.Errorf("blue runs %q (v3 started %d times), want v1 still draining", h.rt.runs(slot.Blue), h.rt.startCount(slot.Blue, "v3"))
	}
	h.router.setUndrained(slot.Blue, 0, false)
	h.drive("blue stopped", func() bool { return h.slot(slot.Blue).State == slot.Stopped })
	if h.rt.runs(slot.Blue) != "" {
		t.Errorf("blue still runs %q", h.rt.runs(slot.Blue))
	}
}

// Ending what is left on a drained slot runs beside the loop: while the
// router takes its time ending blue's streams, a rollback to blue acts at
// once, and blue, live again, is not stopped when the end returns.
func TestRollbackWhileTheOldSlotEnds(t *testing.T) {
	h := newHarness(t, nil)
	h.seed(true)
	release := h.router.holdEnds()
	t.Cleanup(release)
	h.clock.Set(h.slot(slot.Blue).StopAt) // wakes the loop: blue is due
	waitUntil(t, "blue's end to begin", func() bool { return h.router.endCount(slot.Blue) == 1 })
	d, err := h.c.Rollback(h.ctx())
	if err != nil {
		t.Fatal(err)
	}
	if d = h.get(d.ID); Phase(d.Phase) != PhaseSucceeded {
		t.Fatalf("rollback = %s (%s), want succeeded while blue's end runs", d.Phase, d.Reason)
	}
	release()
	h.idle()
	h.assertRoute(slot.Blue, 100, 0)
	if s := h.slot(slot.Blue); s.State != slot.Running || !s.StoppingSince.IsZero() || h.rt.stopCount(slot.Blue) != 0 {
		t.Errorf("blue = %+v, stopped %d times; want running, never stopped", s, h.rt.stopCount(slot.Blue))
	}
}

// A restart while a slot drains keeps the time its stop began: the router
// is asked with it, and the stop finishes.
func TestRestartWhileASlotDrains(t *testing.T) {
	h := newHarness(t, nil)
	stopAt := drainingBlue(t, h)
	h.clock.Add(10 * time.Second)
	h.restart() // a new, empty router: nothing in flight, drained
	h.drive("blue stopped", func() bool { return h.slot(slot.Blue).State == slot.Stopped })
	if got := h.router.askedSince(slot.Blue); !got.Equal(stopAt) {
		t.Errorf("after the restart the router was asked with %v, want the stored start %v", got, stopAt)
	}
	if h.rt.runs(slot.Blue) != "" || h.router.endCount(slot.Blue) != 1 {
		t.Errorf("blue runs %q, ended %d times by the new router; want stopped, ended once", h.rt.runs(slot.Blue), h.router.endCount(slot.Blue))
	}
}

// waitUntil polls cond on the real clock until it holds, failing after
// waitLimit (only a hang reaches it).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	limit := time.After(waitLimit)
	for !cond() {
		select {
		case <-tick.C:
		case <-limit:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
