package analysis

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/config"
)

// bounds: 1ms buckets up to 1s.
func testBounds() []float64 {
	b := make([]float64, 1000)
	for i := range b {
		b[i] = float64(i+1) / 1000
	}
	return b
}

// counts builds a window: n requests, errs of them errors, every latency
// in the bucket ending at ms milliseconds except slow ones at slowMs.
func counts(n, errs uint64, ms int, slow uint64, slowMs int) Counts {
	h := Histogram{Bounds: testBounds(), Counts: make([]uint64, 1000)}
	h.Counts[ms-1] += n - slow
	if slow > 0 {
		h.Counts[slowMs-1] += slow
	}
	return Counts{Requests: n, Errors: errs, Latency: h}
}

func lim(raw string, v float64) *config.Limit { return &config.Limit{Raw: raw, Value: v} }

func defaultRules() []config.Rule {
	return []config.Rule{
		{Metric: config.MetricErrorRate, Max: lim("1%", 0.01), MaxRatioToLive: 2},
		{Metric: config.MetricLatencyP99, MaxRatioToLive: 1.5},
	}
}

func input(newC, liveC Counts) Input {
	return Input{Window: 30 * time.Second, MinRequests: 50, Rules: defaultRules(),
		NewSlot: "green", LiveSlot: "blue", New: newC, Live: liveC}
}

func TestEvaluate(t *testing.T) {
	cases := []struct {
		name      string
		in        Input
		want      Result
		decidedBy string
		reason    string
	}{
		{"healthy", input(counts(100, 0, 2, 0, 0), counts(900, 0, 2, 0, 0)), Pass, "",
			"2 rules passed on 100 requests on green in 30s"},
		{"5% errors", input(counts(200, 10, 2, 0, 0), counts(1800, 0, 2, 0, 0)), Fail, "error_rate max 1% max_ratio_to_live 2",
			"error_rate max 1% max_ratio_to_live 2 in 30s: error_rate on green is 5%, above max 1%"},
		{"one error is noise", input(counts(100, 1, 2, 0, 0), counts(900, 0, 2, 0, 0)), Pass, "", ""},
		{"errors above twice live", input(counts(1000, 9, 2, 0, 0), counts(9000, 36, 2, 0, 0)), Fail, "error_rate max 1% max_ratio_to_live 2",
			"error_rate on green is 0.9% against 0.4% on blue: 2.25× live, max 2×"},
		{"+100ms latency", input(counts(100, 0, 102, 0, 0), counts(900, 0, 2, 0, 0)), Fail, "latency_p99 max_ratio_to_live 1.5",
			"latency_p99 on green is 101.5ms against 1.5ms on blue"},
		{"fast ratio under the noise floor", input(counts(100, 0, 3, 0, 0), counts(900, 0, 1, 0, 0)), Pass, "", ""},
		{"no traffic", input(Counts{}, Counts{}), Inconclusive, "min_requests",
			"only 0 requests on green in 30s, need 50"},
		{"too few", input(counts(12, 0, 2, 0, 0), counts(900, 0, 2, 0, 0)), Inconclusive, "min_requests",
			"only 12 requests on green in 30s, need 50"},
		{"few but all failing still fails", input(counts(12, 12, 2, 0, 0), counts(900, 0, 2, 0, 0)), Fail, "error_rate max 1% max_ratio_to_live 2", "100%, above max 1%"},
		{"live too small to compare", input(counts(100, 0, 2, 0, 0), counts(10, 0, 2, 0, 0)), Inconclusive, "error_rate max 1% max_ratio_to_live 2",
			"only 10 requests on live slot blue in 30s, need 50 to compare"},
		{"absolute max latency", Input{Window: time.Minute, MinRequests: 10, NewSlot: "green", LiveSlot: "blue",
			Rules: []config.Rule{{Metric: config.MetricLatencyP90, Max: lim("50ms", 0.05)}},
			New:   counts(100, 0, 2, 20, 80), Live: Counts{}}, Fail, "latency_p90 max 50ms", "latency_p90 on green is 79.5ms, above max 50ms"},
		{"tail under p90", Input{Window: time.Minute, MinRequests: 10, NewSlot: "green", LiveSlot: "blue",
			Rules: []config.Rule{{Metric: config.MetricLatencyP90, Max: lim("50ms", 0.05)}},
			New:   counts(100, 0, 2, 5, 80), Live: Counts{}}, Pass, "", "1 rule passed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := Evaluate(tc.in)
			if v.Result != tc.want || v.DecidedBy != tc.decidedBy || !strings.Contains(v.Reason, tc.reason) {
				t.Errorf("got %s by %q: %q\nwant %s by %q containing %q", v.Result, v.DecidedBy, v.Reason, tc.want, tc.decidedBy, tc.reason)
			}
			if len(v.Rules) != len(tc.in.Rules) {
				t.Errorf("%d rule results for %d rules", len(v.Rules), len(tc.in.Rules))
			}
		})
	}
}

// While baking the live slot gets nothing: ratios use the baseline.
func TestEvaluateBaseline(t *testing.T) {
	base := Summarize(counts(900, 0, 2, 0, 0), 30*time.Second)
	in := input(counts(1000, 0, 102, 0, 0), Counts{})
	in.Baseline = &base
	v := Evaluate(in)
	if v.Result != Fail || v.LiveFrom != "baseline" {
		t.Fatalf("got %s (live from %q): %s; want fail against the baseline", v.Result, v.LiveFrom, v.Reason)
	}
	in.New = counts(1000, 0, 2, 0, 0)
	if v := Evaluate(in); v.Result != Pass {
		t.Errorf("healthy against baseline: %s: %s", v.Result, v.Reason)
	}
	in.Baseline = nil
	if v := Evaluate(in); v.Result != Inconclusive {
		t.Errorf("no live data and no baseline: %s: %s; want inconclusive", v.Result, v.Reason)
	}
}

// The verdict carries every number: both slots, thresholds, sample sizes.
func TestVerdictJSON(t *testing.T) {
	v := Evaluate(input(counts(200, 10, 2, 0, 0), counts(1800, 0, 2, 0, 0)))
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Result      string  `json:"result"`
		DecidedBy   string  `json:"decided_by"`
		MinRequests int     `json:"min_requests"`
		Window      float64 `json:"window_seconds"`
		New         struct {
			Requests  int     `json:"requests"`
			ErrorRate float64 `json:"error_rate"`
		} `json:"new"`
		Live struct {
			Requests int `json:"requests"`
		} `json:"live"`
		Rules []struct {
			Metric string   `json:"metric"`
			Result string   `json:"result"`
			New    float64  `json:"new"`
			Live   *float64 `json:"live"`
			Max    *float64 `json:"max"`
		} `json:"rules"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Result != "fail" || got.MinRequests != 50 || got.Window != 30 || got.New.Requests != 200 ||
		got.New.ErrorRate != 0.05 || got.Live.Requests != 1800 || len(got.Rules) != 2 ||
		got.Rules[0].Max == nil || *got.Rules[0].Max != 0.01 || got.Rules[0].Live == nil || got.DecidedBy == "" {
		t.Errorf("verdict JSON lacks numbers: %s", b)
	}
}

func TestQuantile(t *testing.T) {
	h := counts(100, 0, 2, 1, 500).Latency
	for _, tc := range []struct {
		q    float64
		want float64
	}{{0.5, 0.0015}, {0.99, 0.0015}, {1, 0.4995}} {
		if got, ok := h.Quantile(tc.q); !ok || got != tc.want {
			t.Errorf("q%g = %g, want %g", tc.q, got, tc.want)
		}
	}
	if _, ok := (Histogram{}).Quantile(0.5); ok {
		t.Error("quantile of an empty histogram is ok")
	}
	d := counts(300, 3, 2, 0, 0).Sub(counts(100, 1, 2, 0, 0))
	if d.Requests != 200 || d.Errors != 2 || d.Latency.Total() != 200 {
		t.Errorf("sub: %+v", d)
	}
}

// compare: statistical fails a slower distribution even when its p99 is
// within the ratio, and passes the same distribution.
func TestEvaluateStatistical(t *testing.T) {
	rule := []config.Rule{{Metric: config.MetricLatencyP50, Compare: config.CompareStatistical}}
	spread := func(n uint64, shiftMs int) Counts {
		c := Counts{Requests: n, Latency: Histogram{Bounds: testBounds(), Counts: make([]uint64, 1000)}}
		for i := range n {
			c.Latency.Counts[int(i%40)+shiftMs]++ // 1–40ms, shifted
		}
		return c
	}
	in := Input{Window: 30 * time.Second, MinRequests: 50, Rules: rule, NewSlot: "green", LiveSlot: "blue"}

	in.New, in.Live = spread(400, 10), spread(2000, 0)
	v := Evaluate(in)
	if v.Result != Fail || v.Rules[0].MannWhitney == nil || v.DecidedBy != "latency_p50 compare statistical" ||
		!strings.Contains(v.Reason, "latencies on green are higher than on blue: 100.00% confidence") {
		t.Errorf("+10ms: %s by %q: %s", v.Result, v.DecidedBy, v.Reason)
	}
	if mw := v.Rules[0].MannWhitney; mw != nil && (mw.NX != 400 || mw.NY != 2000 || mw.RankBiserial < 0.4) {
		t.Errorf("+10ms: %+v, want sizes 400 and 2000 and a large effect", mw)
	}

	in.New = spread(400, 0)
	if v := Evaluate(in); v.Result != Pass || v.Rules[0].MannWhitney == nil {
		t.Errorf("same distribution: %s: %s", v.Result, v.Reason)
	}

	// A 1ms shift on fast requests is significant but under the noise floor.
	in.New, in.Live = spread(4000, 1), spread(4000, 0)
	in.New.Latency.Counts = make([]uint64, 1000)
	in.Live.Latency.Counts = make([]uint64, 1000)
	for i := range 4000 {
		in.New.Latency.Counts[1+i%2]++
		in.Live.Latency.Counts[i%2]++
	}
	if v := Evaluate(in); v.Result != Pass {
		t.Errorf("1ms slower: %s: %s; want pass (noise floor)", v.Result, v.Reason)
	}

	in.New, in.Live = spread(400, 10), Counts{}
	if v := Evaluate(in); v.Result != Inconclusive {
		t.Errorf("no live data: %s: %s", v.Result, v.Reason)
	}
}

// A rule with a filter is judged on the requests it selects: their own
// numbers, their own sample sizes, their own min_requests.
func TestEvaluateFilters(t *testing.T) {
	search := config.Rule{Metric: config.MetricErrorRate, Max: lim("1%", 0.01), MaxRatioToLive: 2, MCPTool: "search"}
	api := config.Rule{Metric: config.MetricLatencyP99, MaxRatioToLive: 1.5, PathPrefix: "/api/"}
	in := input(counts(1000, 5, 2, 0, 0), counts(1000, 5, 2, 0, 0))
	in.Rules = append(defaultRules(), search, api)
	in.NewFiltered = map[config.Filter]Counts{search.Filter(): counts(100, 8, 2, 0, 0), api.Filter(): counts(400, 0, 2, 0, 0)}
	in.LiveFiltered = map[config.Filter]Counts{search.Filter(): counts(100, 0, 2, 0, 0), api.Filter(): counts(400, 0, 2, 0, 0)}

	// All requests are fine; the search tool fails 8% of its calls.
	v := Evaluate(in)
	const rule = "error_rate max 1% max_ratio_to_live 2 mcp_tool search"
	if v.Result != Fail || v.DecidedBy != rule || !strings.Contains(v.Reason, "error_rate on green is 8%, above max 1%") {
		t.Errorf("got %s by %q: %s", v.Result, v.DecidedBy, v.Reason)
	}
	if r := v.Rules[2]; r.Filter != "mcp_tool search" || r.Requests != 100 || r.LiveRequests != 100 || r.LiveFrom != "window" {
		t.Errorf("filtered rule result %+v", r)
	}
	if r := v.Rules[0]; r.Result != Pass || r.Requests != 1000 || r.Filter != "" {
		t.Errorf("unfiltered rule result %+v", r)
	}

	// Too few calls of the tool: inconclusive by that rule, with its count.
	in.NewFiltered[search.Filter()] = counts(20, 0, 2, 0, 0)
	v = Evaluate(in)
	if v.Result != Inconclusive || v.DecidedBy != rule ||
		!strings.Contains(v.Reason, "only 20 requests matching mcp_tool search on green in 30s, need 50") {
		t.Errorf("got %s by %q: %s", v.Result, v.DecidedBy, v.Reason)
	}
	// A filter nothing was counted for is no data, never a pass.
	delete(in.NewFiltered, search.Filter())
	if v := Evaluate(in); v.Result != Inconclusive || v.DecidedBy != rule {
		t.Errorf("no counts for the filter: %s by %q: %s", v.Result, v.DecidedBy, v.Reason)
	}

	// While baking a filtered ratio uses its own baseline.
	in.NewFiltered[search.Filter()] = counts(100, 0, 2, 0, 0)
	in.NewFiltered[api.Filter()] = counts(400, 0, 120, 0, 0)
	in.LiveFiltered = nil
	in.Live, in.Baseline = Counts{}, ptr(Summarize(counts(1000, 5, 2, 0, 0), 30*time.Second))
	v = Evaluate(in)
	if v.Result != Inconclusive {
		t.Errorf("filtered ratio without a baseline: %s: %s", v.Result, v.Reason)
	}
	in.FilteredBaselines = map[string]Summary{
		"mcp_tool search":   Summarize(counts(100, 0, 2, 0, 0), 30*time.Second),
		"path_prefix /api/": Summarize(counts(400, 0, 2, 0, 0), 30*time.Second),
	}
	v = Evaluate(in)
	if v.Result != Fail || v.DecidedBy != "latency_p99 max_ratio_to_live 1.5 path_prefix /api/" || v.Rules[3].LiveFrom != "baseline" {
		t.Errorf("slower /api/ against its baseline: %s by %q (%+v): %s", v.Result, v.DecidedBy, v.Rules[3], v.Reason)
	}
}

// Synthetic requests are judged apart from users': a rule passes on
// either, fails on either, and the reasons give both sample sizes.
func TestEvaluateSynthetic(t *testing.T) {
	healthy := func(n uint64) Counts { return counts(n, 0, 2, 0, 0) }
	cases := []struct {
		name              string
		user, userLive    Counts
		syn, synLive      Counts
		want              Result
		decidedBy, reason string
		decidedOn         string
	}{
		{"synthetic alone passes", Counts{}, Counts{}, healthy(60), healthy(60), Pass, "",
			"2 rules passed on 0 user and 60 synthetic requests on green in 30s", ""},
		{"synthetic alone fails", Counts{}, Counts{}, counts(60, 6, 2, 0, 0), healthy(60), Fail, "error_rate max 1% max_ratio_to_live 2",
			"error_rate max 1% max_ratio_to_live 2 in 30s, on synthetic requests (0 user and 60 synthetic requests on green): error_rate on green is 10%, above max 1%", "synthetic"},
		{"users fail first", counts(100, 10, 2, 0, 0), healthy(900), counts(60, 6, 2, 0, 0), healthy(60), Fail, "error_rate max 1% max_ratio_to_live 2",
			"on user requests (100 user and 60 synthetic requests on green)", "user"},
		{"a failing user request among few", counts(3, 3, 2, 0, 0), Counts{}, healthy(60), healthy(60), Fail, "error_rate max 1% max_ratio_to_live 2",
			"error_rate on green is 100%", "user"},
		{"neither enough", healthy(10), healthy(90), healthy(20), healthy(20), Inconclusive, "min_requests",
			"only 10 user and 20 synthetic requests on green in 30s, need 50 of either", ""},
		{"users enough, live too small, synthetic judges", healthy(100), healthy(10), healthy(60), healthy(60), Pass, "",
			"2 rules passed on 100 user and 60 synthetic requests on green in 30s", ""},
		{"synthetic live missing and users too few", healthy(10), healthy(900), healthy(60), Counts{}, Inconclusive, "error_rate max 1% max_ratio_to_live 2",
			"users: only 10 user requests on green in 30s, need 50; synthetic: only 0 synthetic requests on live slot blue in 30s, need 50 to compare", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := input(tc.user, tc.userLive)
			in.Synthetic = &Traffic{New: tc.syn, Live: tc.synLive}
			v := Evaluate(in)
			if v.Result != tc.want || v.DecidedBy != tc.decidedBy || v.DecidedOn != tc.decidedOn || !strings.Contains(v.Reason, tc.reason) {
				t.Errorf("got %s by %q on %q: %q\nwant %s by %q on %q containing %q", v.Result, v.DecidedBy, v.DecidedOn, v.Reason,
					tc.want, tc.decidedBy, tc.decidedOn, tc.reason)
			}
			if v.Synthetic == nil || len(v.Synthetic.Rules) != 2 || v.Synthetic.New.Requests != tc.syn.Requests || v.New.Requests != tc.user.Requests {
				t.Errorf("synthetic side %+v, users %d: numbers not kept apart", v.Synthetic, v.New.Requests)
			}
		})
	}
}
