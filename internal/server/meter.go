package server

import (
	"github.com/bluegreen-dev/bluegreen/internal/analysis"
	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/deploy"
	"github.com/bluegreen-dev/bluegreen/internal/router"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// meterAdapter reads the router's per-slot measurement of all user
// requests.
type meterAdapter struct {
	r      *router.Router
	bounds []float64 // the router's latency bucket bounds, in seconds
}

func newMeter(r *router.Router) meterAdapter {
	bs := router.LatencyBounds()
	bounds := make([]float64, len(bs))
	for i, b := range bs {
		bounds[i] = b.Seconds()
	}
	return meterAdapter{r: r, bounds: bounds}
}

// Measure is slot's cumulative counts of all user requests.
func (a meterAdapter) Measure(sl slot.Slot) analysis.Counts {
	return a.counts(a.r.Measure(sl))
}

func (a meterAdapter) counts(m router.Measurement) analysis.Counts {
	return analysis.Counts{Requests: m.Requests, Errors: m.Errors,
		Latency: analysis.Histogram{Bounds: a.bounds, Counts: m.Latency}}
}

// analysisMeter gives the controller the router's per-slot measurements:
// users' and synthetic requests, in all and per rule filter.
type analysisMeter struct {
	meterAdapter
	filters []config.Filter
}

var _ deploy.Meter = analysisMeter{}

func newAnalysisMeter(r *router.Router, filters []config.Filter) analysisMeter {
	return analysisMeter{meterAdapter: newMeter(r), filters: filters}
}

// routerFilters are the router's meter filters for the rules' filters.
func routerFilters(fs []config.Filter) []router.Filter {
	out := make([]router.Filter, 0, len(fs))
	for _, f := range fs {
		out = append(out, routerFilter(f))
	}
	return out
}

// routerFilter is the router's meter filter for one rule filter.
func routerFilter(f config.Filter) router.Filter {
	return router.Filter{PathPrefix: f.PathPrefix, MCPMethod: f.MCPMethod, MCPTool: f.MCPTool}
}

func (a analysisMeter) Measure(sl slot.Slot) analysis.Measurement {
	get := func(t router.Traffic, f config.Filter) analysis.Counts {
		m, _ := a.r.MeasureOf(sl, t, routerFilter(f))
		return a.counts(m)
	}
	out := analysis.Measurement{
		User:      get(router.UserTraffic, config.Filter{}),
		Synthetic: get(router.SyntheticTraffic, config.Filter{}),
	}
	if len(a.filters) > 0 {
		out.UserFiltered = make(map[config.Filter]analysis.Counts, len(a.filters))
		out.SyntheticFiltered = make(map[config.Filter]analysis.Counts, len(a.filters))
		for _, f := range a.filters {
			out.UserFiltered[f] = get(router.UserTraffic, f)
			out.SyntheticFiltered[f] = get(router.SyntheticTraffic, f)
		}
	}
	return out
}
