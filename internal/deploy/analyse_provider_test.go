package deploy

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/bluegreen-dev/bluegreen/internal/analysis"
	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// fakeProviders answers every window with one fixed result and records
// the windows it was asked about.
type fakeProviders struct {
	mu      sync.Mutex
	result  analysis.Result
	reason  string
	windows []analysis.Window
}

func (p *fakeProviders) Judge(_ context.Context, w analysis.Window) []analysis.ProviderResult {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.windows = append(p.windows, w)
	return []analysis.ProviderResult{{Name: "business", Kind: "webhook", Result: p.result, Reason: p.reason}}
}

func (p *fakeProviders) asked() []analysis.Window {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]analysis.Window(nil), p.windows...)
}

// providerHarness is analysedHarness (a healthy green) with providers.
func providerHarness(t *testing.T, on config.OnInconclusive, p *fakeProviders) *harness {
	t.Helper()
	var m *fakeMeter
	h := newHarnessWith(t, nil, func(h *harness) {
		m = newFakeMeter(h.clock, func() *fakeRouter { return h.router }, 40)
		h.meter, h.analysis, h.providers = m, analysisConfig(on), p
	})
	h.seed(false)
	m.set(slot.Blue, traffic{latencyMs: 2})
	m.set(slot.Green, traffic{latencyMs: 2})
	return h
}

// A provider that fails rolls back a release the router's rules pass.
func TestAnalysisProviderFailRollsBack(t *testing.T) {
	p := &fakeProviders{result: analysis.Fail, reason: "checkout conversion down 12%"}
	h := providerHarness(t, config.InconclusivePause, p)
	d := h.finish(h.deploy("v2", "linear 50% every 1m").ID)
	if Phase(d.Phase) != PhaseRolledBack {
		t.Fatalf("deployment = %s (%s), want rolled_back", d.Phase, d.Reason)
	}
	back := lastEvent(t, h.events(d.ID), PhaseRollingBack)
	v := verdictIn(t, back)
	if v.Result != analysis.Fail || v.DecidedBy != "provider business" || len(v.Providers) != 1 ||
		v.Providers[0].Reason != "checkout conversion down 12%" || len(v.Rules) != 2 {
		t.Errorf("verdict = %+v, want a fail decided by the provider, with the rules and its answer", v)
	}
	if want := "analysis failed: provider business: checkout conversion down 12%"; !strings.HasPrefix(back.Reason, want) {
		t.Errorf("reason = %q, want %q…", back.Reason, want)
	}
	h.assertRoute(slot.Blue, 100, 0)
	ws := p.asked()
	if len(ws) == 0 {
		t.Fatal("providers never asked")
	}
	w := ws[0]
	if w.App != "shop" || w.DeploymentID != d.ID || w.NewSlot != slot.Green || w.NewVersion != "v2" ||
		w.LiveSlot != slot.Blue || w.LiveVersion != "v1" || w.Length != testInterval {
		t.Errorf("window asked = %+v", w)
	}
}

// An inconclusive provider (such as an unreachable one) is never a pass:
// on_inconclusive pause pauses with its reason.
func TestAnalysisProviderInconclusivePauses(t *testing.T) {
	p := &fakeProviders{result: analysis.Inconclusive, reason: "webhook http://127.0.0.1:1 unreachable: connection refused"}
	h := providerHarness(t, config.InconclusivePause, p)
	d := h.driveTo(h.deploy("v2", "linear 50% every 1m").ID, "paused", inPhase(PhasePaused))
	ev := lastEvent(t, h.events(d.ID), PhasePaused)
	if want := "analysis inconclusive: provider business: webhook http://127.0.0.1:1 unreachable"; !strings.HasPrefix(ev.Reason, want) {
		t.Errorf("reason = %q, want %q…", ev.Reason, want)
	}
	if v := verdictIn(t, ev); v.Result != analysis.Inconclusive || v.DecidedBy != "provider business" {
		t.Errorf("verdict = %+v", v)
	}
	h.assertRoute(slot.Blue, 50, 50)
}

// Passing providers let a healthy release through.
func TestAnalysisProviderPassPromotes(t *testing.T) {
	p := &fakeProviders{result: analysis.Pass, reason: "fine"}
	h := providerHarness(t, config.InconclusivePause, p)
	d := h.finish(h.deploy("v2", "linear 50% every 1m").ID)
	if Phase(d.Phase) != PhaseSucceeded {
		t.Fatalf("deployment = %s (%s), want succeeded", d.Phase, d.Reason)
	}
	if v := verdictIn(t, lastEvent(t, h.events(d.ID), PhaseSucceeded)); v.Result != analysis.Pass || len(v.Providers) != 1 {
		t.Errorf("verdict = %+v", v)
	}
}
