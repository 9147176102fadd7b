package deploy

import (
	"slices"
	"testing"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

func TestRollbackWhileWarmIsOneRouteSwap(t *testing.T) {
	h := newHarness(t, nil)
	h.seed(true) // v2 live on green, v1 warm on blue
	swaps, starts := h.router.swapCount(), h.rt.startCount(slot.Blue, "v1")

	d, err := h.c.Rollback(h.ctx())
	if err != nil {
		t.Fatal(err)
	}
	if Phase(d.Phase) != PhaseSucceeded || d.Kind != KindRollback || d.Version != "v1" || d.Slot != slot.Blue || d.FromVersion != "v2" {
		t.Fatalf("rollback = %s %s %s into %s from %s", d.Kind, d.Phase, d.Version, d.Slot, d.FromVersion)
	}
	if got := h.router.swapCount() - swaps; got != 1 {
		t.Errorf("rollback switched the route %d times, want exactly one swap", got)
	}
	if got := h.rt.startCount(slot.Blue, "v1"); got != starts {
		t.Errorf("rollback started v1 again (%d starts) although it was warm", got-starts)
	}
	if got := phases(h.events(d.ID)); !slices.Equal(got, []Phase{PhasePending, PhaseSucceeded}) {
		t.Errorf("events = %v, want pending, succeeded", got)
	}
	h.assertRoute(slot.Blue, 100, 0)
	// v2 now stays warm in its turn.
	if s := h.slot(slot.Green); s.State != slot.Running || s.Version != "v2" || !s.StopAt.Equal(h.clock.Now().Add(testScaleDown)) {
		t.Errorf("slot green = %+v, want v2 warm for the scale-down delay", s)
	}
}

func TestRollbackAfterScaleDownRestartsThenSwaps(t *testing.T) {
	h := newHarness(t, nil)
	h.seed(true)
	h.drive("blue scaled down", func() bool { return h.slot(slot.Blue).State == slot.Stopped })
	h.setSick(slot.Blue, true)

	d, err := h.c.Rollback(h.ctx())
	if err != nil {
		t.Fatal(err)
	}
	if Phase(d.Phase) == PhasePending || !d.Active {
		t.Fatalf("rollback returned in %s (active %v), want it under way", d.Phase, d.Active)
	}
	d = h.driveTo(d.ID, "waiting_ready", inPhase(PhaseWaitingReady))
	h.clock.Add(testPoll) // at least one more look at health
	h.idle()
	if got := h.rt.runs(slot.Blue); got != "v1" {
		t.Fatalf("blue runs %q, want v1 restarted", got)
	}
	h.assertRoute(slot.Green, 0, 100) // not healthy yet: no swap

	h.setSick(slot.Blue, false)
	d = h.finish(d.ID)
	if Phase(d.Phase) != PhaseSucceeded {
		t.Fatalf("rollback ended %s (%s)", d.Phase, d.Reason)
	}
	want := []Phase{PhasePending, PhaseProvisioning, PhaseWaitingReady, PhaseSucceeded}
	if got := phases(h.events(d.ID)); !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v (no verifying, no shifting)", got, want)
	}
	h.assertRoute(slot.Blue, 100, 0)
}

func TestRollbackTwiceGoesForwardAgain(t *testing.T) {
	h := newHarness(t, nil)
	h.seed(true)
	ctx := h.ctx()
	if _, err := h.c.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	d, err := h.c.Rollback(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if Phase(d.Phase) != PhaseSucceeded || d.Version != "v2" || d.Slot != slot.Green {
		t.Fatalf("second rollback = %s %s in %s", d.Phase, d.Version, d.Slot)
	}
	h.assertRoute(slot.Green, 0, 100)
}

func TestRollbackDuringADeploymentAborts(t *testing.T) {
	h := newHarness(t, nil)
	h.seed(false)
	active := h.driveTo(h.deploy("v2", "canary 5% for 10m").ID, "canary", inPhase(PhaseShifting))
	d, err := h.c.Rollback(h.ctx())
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != active.ID || Phase(d.Phase) != PhaseAborted {
		t.Fatalf("rollback during deployment %d returned %d in %s, want it aborted", active.ID, d.ID, d.Phase)
	}
	h.assertRoute(slot.Blue, 100, 0)
}
