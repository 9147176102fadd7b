package deploy

import (
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/analysis"
	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// bakeZeroHarness runs v1 live on blue under rps requests per second with
// analysis on, bake_time 0s and checks that take 20s, as `bluegreen init`'s
// starter config does with an all-at-once deployment.
func bakeZeroHarness(t *testing.T, rps float64) (*harness, *fakeMeter) {
	t.Helper()
	var m *fakeMeter
	v := &fakeVerifier{passed: true}
	h := newHarnessWith(t, v, func(h *harness) {
		m = newFakeMeter(h.clock, func() *fakeRouter { return h.router }, rps)
		h.meter, h.analysis = m, analysisConfig(config.InconclusivePause)
		zero := time.Duration(0)
		h.bake = &zero
		v.clock, v.took = h.clock, 20*time.Second
	})
	h.seed(false)
	m.set(slot.Blue, traffic{latencyMs: 2})
	m.set(slot.Green, traffic{latencyMs: 2})
	return h, m
}

// With all-at-once and bake_time 0s the deployment still waits for one
// analysis window, and says so; the live slot's traffic before the switch
// is the baseline of rules that compare with live, so a healthy release
// succeeds instead of pausing as inconclusive.
func TestAllAtOnceBakeZeroUsesTheLiveBaselineFromBeforeTheSwitch(t *testing.T) {
	h, _ := bakeZeroHarness(t, 40)
	d := h.finish(h.deploy("v2", "all-at-once").ID)
	evs := h.events(d.ID)
	if Phase(d.Phase) != PhaseSucceeded {
		for _, ev := range evs {
			t.Logf("%s %s: %s", ev.Time.Format(time.TimeOnly), ev.Phase, ev.Reason)
		}
		t.Fatalf("deployment = %s (%s), want succeeded", d.Phase, d.Reason)
	}
	bake := lastEvent(t, evs, PhaseBaking)
	want := "100% of traffic on green (v2); baking for 0s, then until an analysis window (30s) passes; live baseline: "
	if !strings.HasPrefix(bake.Reason, want) || !strings.Contains(bake.Reason, "requests on blue in the 20s before the switch") {
		t.Errorf("baking reason = %q, want it to start %q and name blue's requests in the 20s before the switch", bake.Reason, want)
	}
	done := lastEvent(t, evs, PhaseSucceeded)
	if got := done.Time.Sub(bake.Time); got != testInterval {
		t.Errorf("succeeded %s after baking began, want after one window (%s)", got, testInterval)
	}
	v := verdictIn(t, done)
	if v.Result != analysis.Pass || v.LiveFrom != "baseline" || v.Live == nil || v.Live.Requests != 800 {
		t.Errorf("verdict = %s, live from %q with %+v; want a pass against blue's 800 requests before the switch", v.Result, v.LiveFrom, v.Live)
	}
}

// With no traffic at all the window is inconclusive: the deployment pauses
// in baking, and both events say why.
func TestAllAtOnceBakeZeroWithoutTrafficPausesAndSaysWhy(t *testing.T) {
	h, _ := bakeZeroHarness(t, 0)
	d := h.driveTo(h.deploy("v2", "all-at-once").ID, "paused", inPhase(PhasePaused))
	evs := h.events(d.ID)
	bake := lastEvent(t, evs, PhaseBaking)
	if want := "; no live baseline: only 0 requests on blue in the 20s before the switch, need 50; rules that compare with live will be inconclusive"; !strings.HasSuffix(bake.Reason, want) {
		t.Errorf("baking reason = %q, want it to end %q", bake.Reason, want)
	}
	paused := lastEvent(t, evs, PhasePaused)
	if want := "analysis inconclusive: "; !strings.HasPrefix(paused.Reason, want) || !strings.Contains(paused.Reason, "paused in baking") {
		t.Errorf("paused reason = %q", paused.Reason)
	}
	if got := paused.Time.Sub(bake.Time); got != testInterval {
		t.Errorf("paused %s after baking began, want after one window (%s)", got, testInterval)
	}
	if Phase(d.Paused) != PhaseBaking {
		t.Errorf("paused in %q, want baking", d.Paused)
	}
}
