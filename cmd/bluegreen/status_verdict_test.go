package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/analysis"
	"github.com/bluegreen-dev/bluegreen/internal/api"
	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/golden"
)

// window builds n requests with errs errors, all at ms milliseconds.
func windowCounts(n, errs uint64, ms int) analysis.Counts {
	bounds := make([]float64, 1000)
	for i := range bounds {
		bounds[i] = float64(i+1) / 1000
	}
	c := analysis.Counts{Requests: n, Errors: errs, Latency: analysis.Histogram{Bounds: bounds, Counts: make([]uint64, 1000)}}
	c.Latency.Counts[ms-1] = n
	return c
}

// The status shows the newest verdict as a table: each rule on each kind
// of traffic with both slots' values, the threshold, the sample sizes and
// the result.
func TestRenderVerdict(t *testing.T) {
	search := config.Rule{Metric: config.MetricErrorRate, Max: &config.Limit{Raw: "2%", Value: 0.02}, MCPTool: "search"}
	rules := []config.Rule{
		{Metric: config.MetricErrorRate, Max: &config.Limit{Raw: "1%", Value: 0.01}, MaxRatioToLive: 2},
		{Metric: config.MetricLatencyP99, MaxRatioToLive: 1.5},
		search,
	}
	v := analysis.Evaluate(analysis.Input{
		Window: 30 * time.Second, MinRequests: 50, Rules: rules, NewSlot: "green", LiveSlot: "blue",
		New: windowCounts(12, 0, 3), Live: windowCounts(40, 0, 3),
		NewFiltered:  map[config.Filter]analysis.Counts{search.Filter(): windowCounts(4, 0, 3)},
		LiveFiltered: map[config.Filter]analysis.Counts{search.Filter(): windowCounts(20, 0, 3)},
		Synthetic: &analysis.Traffic{
			New: windowCounts(150, 30, 2), Live: windowCounts(150, 0, 2),
			NewFiltered:  map[config.Filter]analysis.Counts{search.Filter(): windowCounts(50, 30, 2)},
			LiveFiltered: map[config.Filter]analysis.Counts{search.Filter(): windowCounts(50, 0, 2)},
		},
	})
	v = analysis.Combine(v, []analysis.ProviderResult{{Name: "upstream-errors", Kind: "prometheus", Result: analysis.Pass,
		Value: ptrTo(0.1), Max: ptrTo(0.5), Reason: "query returned 0.1"}})
	got := renderDeployment(api.DeploymentStatus{ID: 7, Kind: "deploy", Version: "v2", Slot: "green", FromVersion: "v1",
		Strategy: "linear 50% every 30s", Phase: api.PhaseRollingBack, Weight: 0, Reason: "analysis failed: " + v.Reason, Analysis: &v})
	golden.Assert(t, filepath.Join("testdata", "status_verdict.golden"), []byte(got))
}

func ptrTo(v float64) *float64 { return &v }
