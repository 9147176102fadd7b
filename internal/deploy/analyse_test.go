package deploy

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/analysis"
	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// traffic is how one release answers.
type traffic struct {
	errorRate float64
	latencyMs int
}

// fakeMeter splits a steady load of rps requests per second between the
// slots by the fake router's weights, on the fake clock, and counts what
// each slot's release answers. With syn set, each slot it targets also
// gets synRps synthetic requests per second.
type fakeMeter struct {
	mu     sync.Mutex
	clock  *fakeClock
	router func() *fakeRouter
	rps    float64
	last   time.Time
	loads  map[slot.Slot]traffic
	user   map[slot.Slot]*fakeCounts
	syn    *fakeSynthetic
	synRps float64
	synth  map[slot.Slot]*fakeCounts
}

// fakeCounts are one slot's counts of one kind of traffic.
type fakeCounts struct {
	reqs, errs float64
	lat        []float64
}

func (c *fakeCounts) add(n float64, load traffic) {
	c.reqs += n
	c.errs += n * load.errorRate
	if c.lat == nil {
		c.lat = make([]float64, len(meterBounds))
	}
	c.lat[load.latencyMs-1] += n
}

func (c *fakeCounts) counts() analysis.Counts {
	out := analysis.Counts{Latency: analysis.Histogram{Bounds: meterBounds, Counts: make([]uint64, len(meterBounds))}}
	if c == nil {
		return out
	}
	out.Requests, out.Errors = uint64(math.Round(c.reqs)), uint64(math.Round(c.errs))
	for i, v := range c.lat {
		out.Latency.Counts[i] = uint64(math.Round(v))
	}
	return out
}

// fakeSynthetic records where the controller aims synthetic traffic.
type fakeSynthetic struct {
	mu      sync.Mutex
	targets []slot.Slot
	aims    []string // every distinct aim, in order ("green,blue", "")
}

func (f *fakeSynthetic) Target(slots ...slot.Slot) {
	f.mu.Lock()
	defer f.mu.Unlock()
	names := make([]string, len(slots))
	for i, s := range slots {
		names[i] = string(s)
	}
	aim := strings.Join(names, ",")
	if len(f.aims) == 0 || f.aims[len(f.aims)-1] != aim {
		f.aims = append(f.aims, aim)
	}
	f.targets = slots
}

func (f *fakeSynthetic) targeted(sl slot.Slot) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Contains(f.targets, sl)
}

func newFakeMeter(clock *fakeClock, router func() *fakeRouter, rps float64) *fakeMeter {
	return &fakeMeter{clock: clock, router: router, rps: rps, last: clock.Now(), loads: map[slot.Slot]traffic{},
		user: map[slot.Slot]*fakeCounts{}, synth: map[slot.Slot]*fakeCounts{}}
}

var meterBounds = func() []float64 {
	b := make([]float64, 1000)
	for i := range b {
		b[i] = float64(i+1) / 1000
	}
	return b
}()

// set says how slot's release answers from now on.
func (m *fakeMeter) set(sl slot.Slot, load traffic) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.advanceLocked()
	m.loads[sl] = load
}

// advanceLocked counts the requests since the last call under the route
// in force now (routes change only at passes that also measure).
func (m *fakeMeter) advanceLocked() {
	now := m.clock.Now()
	secs := now.Sub(m.last).Seconds()
	m.last = now
	if secs <= 0 {
		return
	}
	live, weights := m.router().Route()
	for _, sl := range slot.All() {
		load, ok := m.loads[sl]
		if !ok {
			continue
		}
		if m.syn != nil && m.syn.targeted(sl) {
			countOn(m.synth, sl).add(m.synRps*secs, load)
		}
		w, ok := weights[sl]
		if !ok && sl == live && len(weights) == 0 {
			w = 100
		}
		if n := m.rps * float64(w) / 100 * secs; n > 0 {
			countOn(m.user, sl).add(n, load)
		}
	}
}

func countOn(m map[slot.Slot]*fakeCounts, sl slot.Slot) *fakeCounts {
	if m[sl] == nil {
		m[sl] = &fakeCounts{}
	}
	return m[sl]
}

func (m *fakeMeter) Measure(sl slot.Slot) analysis.Measurement {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.advanceLocked()
	return analysis.Measurement{User: m.user[sl].counts(), Synthetic: m.synth[sl].counts()}
}

const testInterval = 30 * time.Second

func analysisConfig(on config.OnInconclusive) *config.Analysis {
	return &config.Analysis{
		Interval: config.Duration(testInterval), MinRequests: 50, OnInconclusive: on,
		Rules: []config.Rule{
			{Metric: config.MetricErrorRate, Max: &config.Limit{Raw: "1%", Value: 0.01}, MaxRatioToLive: 2},
			{Metric: config.MetricLatencyP99, MaxRatioToLive: 1.5},
		},
	}
}

// analysedHarness runs v1 live on blue under a load of rps requests per
// second, answering well; green's release answers as given.
func analysedHarness(t *testing.T, on config.OnInconclusive, rps float64, green traffic) (*harness, *fakeMeter) {
	t.Helper()
	var m *fakeMeter
	h := newHarnessWith(t, nil, func(h *harness) {
		m = newFakeMeter(h.clock, func() *fakeRouter { return h.router }, rps)
		h.meter, h.analysis = m, analysisConfig(on)
	})
	h.seed(false)
	m.set(slot.Blue, traffic{latencyMs: 2})
	m.set(slot.Green, green)
	return h, m
}

// analysed deploys v2 under "linear 50% every 1m" and drives it to its end.
func analysed(t *testing.T, on config.OnInconclusive, rps float64, green traffic) (*harness, *fakeMeter, store.Deployment) {
	t.Helper()
	h, m := analysedHarness(t, on, rps, green)
	d := h.deploy("v2", "linear 50% every 1m")
	return h, m, h.finish(d.ID)
}

// verdictIn decodes the analysis verdict in an event's data.
func verdictIn(t *testing.T, ev store.Event) analysis.Verdict {
	t.Helper()
	var data struct {
		Analysis *analysis.Verdict `json:"analysis"`
	}
	if err := json.Unmarshal(ev.Data, &data); err != nil {
		t.Fatal(err)
	}
	if data.Analysis == nil {
		t.Fatalf("%s event has no analysis: %s", ev.Phase, ev.Data)
	}
	return *data.Analysis
}

func TestAnalysisFailureRollsBack(t *testing.T) {
	for _, tc := range []struct {
		name      string
		green     traffic
		decidedBy string
	}{
		{"5% errors", traffic{errorRate: 0.05, latencyMs: 2}, "error_rate max 1% max_ratio_to_live 2"},
		{"+100ms", traffic{latencyMs: 102}, "latency_p99 max_ratio_to_live 1.5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _, d := analysed(t, config.InconclusivePause, 40, tc.green)
			if Phase(d.Phase) != PhaseRolledBack {
				t.Fatalf("deployment = %s (%s), want rolled_back", d.Phase, d.Reason)
			}
			evs := h.events(d.ID)
			shifting, back := lastEvent(t, evs, PhaseShifting), lastEvent(t, evs, PhaseRollingBack)
			if got := back.Time.Sub(shifting.Time); got != testInterval {
				t.Errorf("rolled back %s after the step began, want at the end of its first window (%s)", got, testInterval)
			}
			v := verdictIn(t, back)
			if v.Result != analysis.Fail || v.DecidedBy != tc.decidedBy || v.New.Requests != 600 || v.Live == nil || v.Live.Requests != 600 ||
				len(v.Rules) != 2 || v.WindowSeconds != 30 || v.MinRequests != 50 {
				t.Errorf("verdict = %+v, want a fail decided by %s with both slots' 600 requests", v, tc.decidedBy)
			}
			if !strings.HasPrefix(back.Reason, "analysis failed: "+tc.decidedBy) {
				t.Errorf("reason = %q", back.Reason)
			}
			h.assertRoute(slot.Blue, 100, 0)
			if got := h.rt.runs(slot.Green); got != "" {
				t.Errorf("green still runs %q after the rollback", got)
			}
			st, err := h.c.Status(h.ctx())
			if err != nil {
				t.Fatal(err)
			}
			if st.Last == nil || st.Last.Analysis == nil || st.Last.Analysis.Result != analysis.Fail || len(st.Last.Failure) == 0 {
				t.Errorf("status does not explain the rollback: %+v", st.Last)
			}
		})
	}
}

func TestAnalysisHealthyIsPromoted(t *testing.T) {
	h, _, d := analysed(t, config.InconclusivePause, 40, traffic{latencyMs: 2})
	if Phase(d.Phase) != PhaseSucceeded {
		t.Fatalf("deployment = %s (%s), want succeeded", d.Phase, d.Reason)
	}
	evs := h.events(d.ID)
	for _, p := range []Phase{PhaseBaking, PhaseSucceeded} {
		if v := verdictIn(t, lastEvent(t, evs, p)); v.Result != analysis.Pass {
			t.Errorf("%s event: verdict %s (%s), want pass", p, v.Result, v.Reason)
		}
	}
	// Baking compares with the live slot's last window before it lost
	// its traffic.
	if v := verdictIn(t, lastEvent(t, evs, PhaseSucceeded)); v.LiveFrom != "baseline" {
		t.Errorf("bake verdict compared with %q, want the baseline", v.LiveFrom)
	}
	h.assertRoute(slot.Green, 0, 100)
}

// No traffic is never a pass: the deployment pauses with the reason.
func TestAnalysisNoTrafficPauses(t *testing.T) {
	h, _ := analysedHarness(t, config.InconclusivePause, 0, traffic{latencyMs: 2})
	d := h.driveTo(h.deploy("v2", "linear 50% every 1m").ID, "paused", inPhase(PhasePaused))
	ev := lastEvent(t, h.events(d.ID), PhasePaused)
	want := "analysis inconclusive: only 0 requests on green in 30s, need 50"
	if !strings.HasPrefix(ev.Reason, want) || Phase(d.Paused) != PhaseShifting {
		t.Errorf("paused in %s: %q, want it paused in shifting: %q", d.Paused, ev.Reason, want)
	}
	if v := verdictIn(t, ev); v.Result != analysis.Inconclusive || v.DecidedBy != "min_requests" || v.New.Requests != 0 {
		t.Errorf("verdict = %+v", v)
	}
	h.assertRoute(slot.Blue, 50, 50) // traffic stays where it was
	st, err := h.c.Status(h.ctx())
	if err != nil {
		t.Fatal(err)
	}
	if st.Active == nil || st.Active.Analysis == nil || st.Active.Analysis.Result != analysis.Inconclusive {
		t.Errorf("status does not show the inconclusive verdict: %+v", st.Active)
	}
}

// on_inconclusive: fail rolls back; extend holds the step until a window
// passes.
func TestAnalysisOnInconclusive(t *testing.T) {
	t.Run("fail", func(t *testing.T) {
		h, _, d := analysed(t, config.InconclusiveFail, 0, traffic{latencyMs: 2})
		if Phase(d.Phase) != PhaseRolledBack {
			t.Fatalf("deployment = %s (%s), want rolled_back", d.Phase, d.Reason)
		}
		ev := lastEvent(t, h.events(d.ID), PhaseRollingBack)
		if !strings.HasPrefix(ev.Reason, "analysis inconclusive (on_inconclusive: fail): only 0 requests on green") {
			t.Errorf("reason = %q", ev.Reason)
		}
	})
	t.Run("extend", func(t *testing.T) {
		h, m := analysedHarness(t, config.InconclusiveExtend, 0, traffic{latencyMs: 2})
		id := h.deploy("v2", "linear 50% every 1m").ID
		start := h.driveTo(id, "shifting", inPhase(PhaseShifting))
		d := h.driveTo(id, "three windows", func(store.Deployment) bool {
			return h.clock.Now().Sub(start.UpdatedAt) >= 3*testInterval
		})
		if Phase(d.Phase) != PhaseShifting {
			t.Fatalf("after three empty windows: %s (%s), want still shifting", d.Phase, d.Reason)
		}
		m.mu.Lock()
		m.rps = 40
		m.mu.Unlock()
		if d := h.finish(id); Phase(d.Phase) != PhaseSucceeded {
			t.Errorf("with traffic: %s (%s), want succeeded", d.Phase, d.Reason)
		}
	})
}

// A person's promote overrides the analysis.
func TestAnalysisPromoteByAPerson(t *testing.T) {
	h, _ := analysedHarness(t, config.InconclusivePause, 0, traffic{latencyMs: 2})
	id := h.deploy("v2", "linear 50% every 1m").ID
	h.driveTo(id, "paused", inPhase(PhasePaused))
	if err := h.c.Promote(h.ctx()); err != nil {
		t.Fatal(err)
	}
	if d := h.get(id); Phase(d.Phase) != PhaseSucceeded {
		t.Errorf("promoted: %s (%s)", d.Phase, d.Reason)
	}
}

// failure_limit tolerates failed windows; consecutive_failures cuts it
// short; a tolerated failure followed by good windows is promoted.
func TestAnalysisFailureLimits(t *testing.T) {
	bad := traffic{errorRate: 0.05, latencyMs: 2}
	for _, tc := range []struct {
		name        string
		limit, cons int
		windows     int // failed windows until the rollback
	}{
		{"failure_limit 1", 1, 0, 2},
		{"consecutive_failures 3", 5, 3, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m *fakeMeter
			h := newHarnessWith(t, nil, func(h *harness) {
				m = newFakeMeter(h.clock, func() *fakeRouter { return h.router }, 40)
				h.meter, h.analysis = m, analysisConfig(config.InconclusivePause)
				h.analysis.FailureLimit, h.analysis.ConsecutiveFailures = tc.limit, tc.cons
			})
			h.seed(false)
			m.set(slot.Blue, traffic{latencyMs: 2})
			m.set(slot.Green, bad)
			d := h.finish(h.deploy("v2", "linear 50% every 1m").ID)
			if Phase(d.Phase) != PhaseRolledBack {
				t.Fatalf("deployment = %s (%s), want rolled_back", d.Phase, d.Reason)
			}
			evs := h.events(d.ID)
			back := lastEvent(t, evs, PhaseRollingBack)
			if got := back.Time.Sub(lastEvent(t, evs, PhaseShifting).Time); got != time.Duration(tc.windows)*testInterval {
				t.Errorf("rolled back after %s, want %d windows", got, tc.windows)
			}
			if !strings.Contains(back.Reason, fmt.Sprintf("(%d failed windows: failure_limit %d", tc.windows, tc.limit)) {
				t.Errorf("reason = %q", back.Reason)
			}
		})
	}
	t.Run("tolerated, then healthy", func(t *testing.T) {
		var m *fakeMeter
		h := newHarnessWith(t, nil, func(h *harness) {
			m = newFakeMeter(h.clock, func() *fakeRouter { return h.router }, 40)
			h.meter, h.analysis = m, analysisConfig(config.InconclusivePause)
			h.analysis.FailureLimit = 1
		})
		h.seed(false)
		m.set(slot.Blue, traffic{latencyMs: 2})
		m.set(slot.Green, bad)
		id := h.deploy("v2", "linear 50% every 1m").ID
		h.driveTo(id, "one failed window", func(d store.Deployment) bool {
			x, err := readDetails(d)
			return err == nil && x.Analysis != nil && x.Analysis.Failures == 1
		})
		m.set(slot.Green, traffic{latencyMs: 2})
		d := h.finish(id)
		if Phase(d.Phase) != PhaseSucceeded {
			t.Fatalf("deployment = %s (%s), want succeeded", d.Phase, d.Reason)
		}
		x, err := readDetails(d)
		if err != nil {
			t.Fatal(err)
		}
		if x.Analysis == nil || x.Analysis.Failures != 1 || x.Analysis.Consecutive != 0 {
			t.Errorf("analysis record = %+v, want 1 failure, none in a row", x.Analysis)
		}
	})
}
