package server

import (
	"github.com/bluegreen-dev/bluegreen/internal/analysis"
	"github.com/bluegreen-dev/bluegreen/internal/deploy"
	"github.com/bluegreen-dev/bluegreen/internal/router"
)

// meterAdapter gives the controller the router's per-slot measurements.
type meterAdapter struct {
	r      *router.Router
	bounds []float64 // the router's latency bucket bounds, in seconds
}

var _ deploy.Meter = meterAdapter{}

func newMeter(r *router.Router) meterAdapter {
	bs := router.LatencyBounds()
	bounds := make([]float64, len(bs))
	for i, b := range bs {
		bounds[i] = b.Seconds()
	}
	return meterAdapter{r: r, bounds: bounds}
}

func (a meterAdapter) Measure(slot string) analysis.Counts {
	m := a.r.Measure(router.Slot(slot))
	return analysis.Counts{Requests: m.Requests, Errors: m.Errors,
		Latency: analysis.Histogram{Bounds: a.bounds, Counts: m.Latency}}
}
