package deploy

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/api"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

func TestFirstReleaseGoesLiveOnBlueAtOnce(t *testing.T) {
	h := newHarness(t, nil)
	d := h.finish(h.deploy("v1", "linear 10% every 3m").ID)

	if Phase(d.Phase) != PhaseSucceeded || d.Slot != slot.Blue || d.FromVersion != "" || d.Weight != 100 {
		t.Fatalf("first release = %s in %s from %q at %d%%, want succeeded in blue at 100%%", d.Phase, d.Slot, d.FromVersion, d.Weight)
	}
	want := []Phase{PhasePending, PhaseProvisioning, PhaseWaitingReady, PhaseVerifying, PhaseSucceeded}
	if got := phases(h.events(d.ID)); !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v (no shifting: nothing to shift from)", got, want)
	}
	h.assertRoute(slot.Blue, 100, 0)
	if s := h.slot(slot.Blue); s.State != slot.Running || s.Version != "v1" || !s.StopAt.IsZero() {
		t.Errorf("slot blue = %+v, want v1 running", s)
	}
	if got := h.router.backendsOf(slot.Blue); len(got) != 2 {
		t.Errorf("router backends of blue = %v, want the 2 started", got)
	}
}

func TestStrategiesReachSucceededThroughTheirSteps(t *testing.T) {
	for _, tc := range []struct {
		strategy string
		weights  []int
		hold     time.Duration
	}{
		{"all-at-once", []int{100}, 0},
		{"linear 10% every 3m", []int{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}, 3 * time.Minute},
		{"linear 30% every 1m", []int{30, 60, 90, 100}, time.Minute},
		{"canary 5% for 10m", []int{5, 100}, 10 * time.Minute},
	} {
		t.Run(tc.strategy, func(t *testing.T) {
			h := newHarness(t, nil)
			h.seed(false)
			d := h.finish(h.deploy("v2", tc.strategy).ID)

			if Phase(d.Phase) != PhaseSucceeded || d.Slot != slot.Green || d.FromVersion != "v1" || !d.TrafficMoved {
				t.Fatalf("deployment = %s in %s from %q (moved %v): %s", d.Phase, d.Slot, d.FromVersion, d.TrafficMoved, d.Reason)
			}
			evs := h.events(d.ID)
			if got := weights(t, evs, PhaseShifting, PhaseBaking); !slices.Equal(got, tc.weights) {
				t.Errorf("weights in events = %v, want %v", got, tc.weights)
			}
			// Each step was held for its hold, the bake for the bake time.
			var prev time.Time
			for _, ev := range evs {
				switch Phase(ev.Phase) {
				case PhaseShifting, PhaseBaking:
					if !prev.IsZero() && ev.Time.Sub(prev) != tc.hold {
						t.Errorf("%s event %v after the previous step, want %v", ev.Phase, ev.Time.Sub(prev), tc.hold)
					}
					prev = ev.Time
				case PhaseSucceeded:
					if got := ev.Time.Sub(prev); got != testBake {
						t.Errorf("succeeded %v after 100%%, want the bake time %v", got, testBake)
					}
				}
			}
			h.assertRoute(slot.Green, 0, 100)
			if s := h.slot(slot.Green); s.State != slot.Running || s.Version != "v2" {
				t.Errorf("slot green = %+v, want v2 running", s)
			}
			// The old slot stays warm for the scale-down delay.
			succeeded := lastEvent(t, evs, PhaseSucceeded).Time
			if s := h.slot(slot.Blue); s.State != slot.Running || s.Version != "v1" || !s.StopAt.Equal(succeeded.Add(testScaleDown)) {
				t.Errorf("slot blue = %+v, want v1 running until %v", s, succeeded.Add(testScaleDown))
			}
		})
	}
}

func TestReadyTimeoutFails(t *testing.T) {
	h := newHarness(t, nil)
	h.seed(false)
	h.setSick(slot.Green, true)
	swaps := h.router.swapCount()
	d := h.finish(h.deploy("v2", "canary 5% for 10m").ID)

	if Phase(d.Phase) != PhaseFailed || d.TrafficMoved {
		t.Fatalf("deployment = %s (moved %v), want failed before traffic moved", d.Phase, d.TrafficMoved)
	}
	if !strings.Contains(d.Reason, "0/2") || !strings.Contains(d.Reason, "not ready") {
		t.Errorf("reason %q should say not ready and name 0/2 healthy", d.Reason)
	}
	evs := h.events(d.ID)
	failed, waiting := lastEvent(t, evs, PhaseFailed), lastEvent(t, evs, PhaseWaitingReady)
	if got := failed.Time.Sub(waiting.Time); got != testReady {
		t.Errorf("failed %v after waiting_ready began, want the ready timeout %v", got, testReady)
	}
	if n := eventData(t, failed); n["healthy"] != 0.0 || n["total"] != 2.0 {
		t.Errorf("failed event data = %v, want healthy 0, total 2", n)
	}
	h.idle()
	h.assertRoute(slot.Blue, 100, 0)
	if got := h.router.swapCount(); got != swaps {
		t.Errorf("route was switched %d times; the failed release never got traffic", got-swaps)
	}
	if s := h.slot(slot.Green); s.State != slot.Stopped || h.rt.runs(slot.Green) != "" {
		t.Errorf("slot green = %+v, runtime runs %q; want the failed release stopped", s, h.rt.runs(slot.Green))
	}
}

// TestStuckReleaseFailsAtOnce: a release the runtime says cannot start
// (an image that cannot be pulled) fails in waiting_ready at once, with the
// runtime's reason, not at the ready timeout; traffic never moves.
func TestStuckReleaseFailsAtOnce(t *testing.T) {
	h := newHarness(t, nil)
	h.seed(false)
	h.setSick(slot.Green, true)
	const why = `pod shop-green-7d4-x2, container web: ImagePullBackOff: Back-off pulling image "shop:v2"`
	h.rt.setStuck(slot.Green, why)
	swaps := h.router.swapCount()
	d := h.finish(h.deploy("v2", "all-at-once").ID)

	if Phase(d.Phase) != PhaseFailed || d.TrafficMoved {
		t.Fatalf("deployment = %s (moved %v), want failed before traffic moved", d.Phase, d.TrafficMoved)
	}
	if want := "v2 in green cannot start: " + why + "; no user traffic reached it"; d.Reason != want {
		t.Errorf("reason %q, want %q", d.Reason, want)
	}
	evs := h.events(d.ID)
	failed, waiting := lastEvent(t, evs, PhaseFailed), lastEvent(t, evs, PhaseWaitingReady)
	if got := failed.Time.Sub(waiting.Time); got >= testReady {
		t.Errorf("failed %v after waiting_ready began: it waited for the ready timeout %v", got, testReady)
	}
	if n := eventData(t, failed); n["stuck"] != why || n["healthy"] != 0.0 || n["total"] != 2.0 {
		t.Errorf("failed event data = %v, want stuck, healthy 0, total 2", n)
	}
	h.idle()
	h.assertRoute(slot.Blue, 100, 0)
	if got := h.router.swapCount(); got != swaps {
		t.Errorf("route was switched %d times; the stuck release never got traffic", got-swaps)
	}
	if s := h.slot(slot.Green); s.State != slot.Stopped || h.rt.runs(slot.Green) != "" {
		t.Errorf("slot green = %+v, runtime runs %q; want the stuck release stopped", s, h.rt.runs(slot.Green))
	}
}

func TestStartFailingUntilTheDeadlineFails(t *testing.T) {
	h := newHarness(t, nil)
	h.seed(false)
	h.rt.setStartErr(slot.Green, errFakeStart)
	d := h.finish(h.deploy("v2", "").ID)
	if Phase(d.Phase) != PhaseFailed || !strings.Contains(d.Reason, "cannot start") {
		t.Fatalf("deployment = %s (%s), want failed naming the start error", d.Phase, d.Reason)
	}
	h.assertRoute(slot.Blue, 100, 0)
}

func TestVerifyFailureFailsAndStopsTheNewRelease(t *testing.T) {
	v := &fakeVerifier{passed: true}
	h := newHarness(t, v)
	h.seed(false)
	swaps := h.router.swapCount()
	v.mu.Lock()
	v.passed, v.report = false, json.RawMessage(`{"check":"health","status":500}`)
	v.mu.Unlock()

	d := h.finish(h.deploy("v2", "linear 10% every 3m").ID)
	if Phase(d.Phase) != PhaseFailed || d.TrafficMoved || d.Weight != 0 {
		t.Fatalf("deployment = %s (moved %v, %d%%), want failed with no traffic moved", d.Phase, d.TrafficMoved, d.Weight)
	}
	if !strings.Contains(d.Reason, "checks failed") {
		t.Errorf("reason = %q", d.Reason)
	}
	x, err := readDetails(d)
	if err != nil {
		t.Fatal(err)
	}
	if string(x.Report) != `{"check":"health","status":500}` {
		t.Errorf("stored report = %s", x.Report)
	}
	h.idle()
	if got := h.router.swapCount(); got != swaps {
		t.Errorf("route switched %d times, want untouched", got-swaps)
	}
	h.assertRoute(slot.Blue, 100, 0)
	if s := h.slot(slot.Green); s.State != slot.Stopped || h.rt.runs(slot.Green) != "" {
		t.Errorf("slot green = %+v, want stopped", s)
	}
}

func TestScaleDownAfterTheDelay(t *testing.T) {
	h := newHarness(t, nil)
	h.seed(true) // v2 live on green, v1 warm on blue
	stopAt := h.slot(slot.Blue).StopAt
	if stopAt.IsZero() {
		t.Fatal("no scale-down scheduled for blue")
	}
	h.drive("blue scaled down", func() bool { return h.slot(slot.Blue).State == slot.Stopped })
	if now := h.clock.Now(); !now.Equal(stopAt) {
		t.Errorf("scaled down at %v, want exactly the stored StopAt %v", now, stopAt)
	}
	if h.rt.runs(slot.Blue) != "" {
		t.Errorf("runtime still runs %q in blue", h.rt.runs(slot.Blue))
	}
	if s := h.slot(slot.Green); s.State != slot.Running {
		t.Errorf("live slot green = %+v, want running", s)
	}
	h.assertRoute(slot.Green, 0, 100)
}

func TestNewDeployReplacesTheWarmOldRelease(t *testing.T) {
	h := newHarness(t, nil)
	h.seed(true) // v1 warm on blue
	d := h.finish(h.deploy("v3", "").ID)
	if Phase(d.Phase) != PhaseSucceeded || d.Slot != slot.Blue || d.FromVersion != "v2" {
		t.Fatalf("v3 = %s in %s from %s", d.Phase, d.Slot, d.FromVersion)
	}
	if h.rt.runs(slot.Blue) != "v3" || h.rt.stopCount(slot.Blue) == 0 {
		t.Errorf("blue runs %q after %d stops, want v1 stopped then v3", h.rt.runs(slot.Blue), h.rt.stopCount(slot.Blue))
	}
	h.assertRoute(slot.Blue, 100, 0)
	if s := h.slot(slot.Green); s.Version != "v2" || s.State != slot.Running || s.StopAt.IsZero() {
		t.Errorf("slot green = %+v, want v2 warm with a scale-down time", s)
	}
}

func TestMetricsShowThePhase(t *testing.T) {
	h := newHarness(t, nil)
	h.seed(false)
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "bluegreen_deployment_phase" {
			continue
		}
		for _, m := range mf.GetMetric() {
			got[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
		}
	}
	if got[string(PhaseSucceeded)] != 1 || got[string(PhaseShifting)] != 0 || len(got) != len(api.Phases()) {
		t.Errorf("bluegreen_deployment_phase = %v, want succeeded 1 and the rest 0", got)
	}
}
