package deploy

import (
	"slices"
	"strings"
	"testing"

	"github.com/bluegreen-dev/bluegreen/internal/analysis"
	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// syntheticHarness is analysedHarness without user traffic, with synRps
// synthetic requests per second to each slot the controller targets.
func syntheticHarness(t *testing.T, synRps float64, green traffic) (*harness, *fakeMeter, *fakeSynthetic) {
	t.Helper()
	var (
		m   *fakeMeter
		syn = &fakeSynthetic{}
	)
	h := newHarnessWith(t, nil, func(h *harness) {
		m = newFakeMeter(h.clock, func() *fakeRouter { return h.router }, 0)
		m.syn, m.synRps = syn, synRps
		h.meter, h.analysis, h.synthetic = m, analysisConfig(config.InconclusivePause), syn
	})
	h.seed(false)
	m.set(slot.Blue, traffic{latencyMs: 2})
	m.set(slot.Green, green)
	return h, m, syn
}

// Synthetic traffic alone decides a deployment with no users: a healthy
// release is promoted, a failing one rolled back. It is aimed at both
// slots while the deployment is analysed, and at none after.
func TestAnalysisSyntheticTraffic(t *testing.T) {
	t.Run("healthy", func(t *testing.T) {
		h, _, syn := syntheticHarness(t, 5, traffic{latencyMs: 2})
		d := h.finish(h.deploy("v2", "linear 50% every 1m").ID)
		if Phase(d.Phase) != PhaseSucceeded {
			t.Fatalf("deployment = %s (%s), want succeeded", d.Phase, d.Reason)
		}
		v := verdictIn(t, lastEvent(t, h.events(d.ID), PhaseSucceeded))
		if v.Result != analysis.Pass || v.Synthetic == nil || v.Synthetic.New.Requests != 150 || v.New.Requests != 0 {
			t.Errorf("verdict %+v, want a pass on 150 synthetic requests and no user request", v)
		}
		if want := "2 rules passed on 0 user and 150 synthetic requests on green in 30s"; v.Reason != want {
			t.Errorf("reason %q, want %q", v.Reason, want)
		}
		// While baking, the live slot still gets synthetic traffic: the
		// synthetic ratios compare with its window, not a baseline.
		if r := v.Synthetic.Rules[0]; r.LiveFrom != "window" || r.LiveRequests != 150 || r.Result != analysis.Pass {
			t.Errorf("synthetic rule while baking: %+v", r)
		}
		syn.mu.Lock()
		defer syn.mu.Unlock()
		if want := []string{"", "green,blue", ""}; !slices.Equal(syn.aims, want) {
			t.Errorf("synthetic traffic aimed at %q, want %q", syn.aims, want)
		}
	})
	t.Run("failing", func(t *testing.T) {
		h, _, syn := syntheticHarness(t, 5, traffic{errorRate: 0.2, latencyMs: 2})
		d := h.finish(h.deploy("v2", "linear 50% every 1m").ID)
		if Phase(d.Phase) != PhaseRolledBack {
			t.Fatalf("deployment = %s (%s), want rolled_back", d.Phase, d.Reason)
		}
		back := lastEvent(t, h.events(d.ID), PhaseRollingBack)
		v := verdictIn(t, back)
		if v.Result != analysis.Fail || v.DecidedOn != "synthetic" || v.DecidedBy != "error_rate max 1% max_ratio_to_live 2" {
			t.Errorf("verdict %+v, want a fail on the synthetic requests", v)
		}
		if want := "on synthetic requests (0 user and 150 synthetic requests on green): error_rate on green is 20%"; !strings.Contains(back.Reason, want) {
			t.Errorf("reason %q lacks %q", back.Reason, want)
		}
		if syn.targeted(slot.Green) || syn.targeted(slot.Blue) {
			t.Error("synthetic traffic still aimed after the rollback")
		}
	})
	t.Run("paused", func(t *testing.T) {
		// Too little synthetic traffic: inconclusive, with both sample
		// sizes; the pause stops the traffic.
		h, _, syn := syntheticHarness(t, 1, traffic{latencyMs: 2})
		d := h.driveTo(h.deploy("v2", "linear 50% every 1m").ID, "paused", inPhase(PhasePaused))
		ev := lastEvent(t, h.events(d.ID), PhasePaused)
		if want := "analysis inconclusive: only 0 user and 30 synthetic requests on green in 30s, need 50 of either"; !strings.HasPrefix(ev.Reason, want) {
			t.Errorf("reason %q, want %q", ev.Reason, want)
		}
		if syn.targeted(slot.Green) {
			t.Error("synthetic traffic still aimed while paused")
		}
	})
}

// A filtered rule's baseline comes from the newest window with enough of
// its requests on the live slot; a window with too few keeps the older.
func TestFilteredBaselines(t *testing.T) {
	f := config.Filter{MCPMethod: "tools/call", MCPTool: "search"}
	old := analysis.Summary{Requests: 70}
	enough := analysis.Counts{Requests: 60}
	in := analysis.Input{Window: testInterval, MinRequests: 50,
		LiveFiltered:      map[config.Filter]analysis.Counts{f: enough},
		FilteredBaselines: map[string]analysis.Summary{"mcp_tool search": old}}
	if got := filteredBaselines(in)["mcp_tool search"]; got.Requests != 60 {
		t.Errorf("baseline from a window with 60 requests: %+v", got)
	}
	in.LiveFiltered[f] = analysis.Counts{Requests: 3}
	if got := filteredBaselines(in)["mcp_tool search"]; got.Requests != 70 {
		t.Errorf("window with 3 requests replaced the baseline: %+v", got)
	}
	in.FilteredBaselines = nil
	if got := filteredBaselines(in); got != nil {
		t.Errorf("baseline from nothing: %+v", got)
	}
}
