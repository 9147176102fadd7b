package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/analysis"
	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/pgtest"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store/postgres"
)

// fixedMeter measures the same counts every time: requests, errors and
// one latency bucket per slot, and one filter.
type fixedMeter struct{ requests, errors uint64 }

var toolFilter = config.Filter{MCPMethod: "tools/call", MCPTool: "search"}

func (m fixedMeter) Measure(s slot.Slot) analysis.Measurement {
	c := analysis.Counts{Requests: m.requests, Errors: m.errors,
		Latency: analysis.Histogram{Bounds: []float64{0.1, 1}, Counts: []uint64{m.requests - m.errors, m.errors}}}
	if s == slot.Blue {
		c.Requests, c.Errors = 2*c.Requests, 2*c.Errors
	}
	return analysis.Measurement{User: c, UserFiltered: map[config.Filter]analysis.Counts{toolFilter: c}}
}

func TestMeterSumsEveryRouter(t *testing.T) {
	url := pgtest.URL(t)
	var nodes []*Node
	for i, m := range []fixedMeter{{100, 1}, {50, 5}, {10, 0}} {
		st := openStore(t, url)
		fence := &postgres.Fence{}
		n, err := New(Options{App: "shop", Store: st, Fence: fence, Router: newFakeRouter(),
			ID: string(rune('a' + i)), Counts: func() []byte { return EncodeCounts(m) },
			LeaseTTL: time.Second, SyncInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- n.Run(ctx, func(ctx context.Context) error { <-ctx.Done(); return nil }) }()
		t.Cleanup(func() { cancel(); <-done })
		nodes = append(nodes, n)
	}
	meter := nodes[0].Meter(fixedMeter{100, 1}) // its own router, live
	waitSum := time.After(10 * time.Second)
	for {
		got := meter.Measure(slot.Green)
		if got.User.Requests == 160 {
			if got.User.Errors != 6 || got.User.Latency.Total() != 160 || got.UserFiltered[toolFilter].Requests != 160 {
				t.Errorf("sum = %+v; want 160 requests, 6 errors, 160 in the histogram and the filter", got)
			}
			if blue := meter.Measure(slot.Blue); blue.User.Requests != 320 {
				t.Errorf("blue sum = %d requests, want 320", blue.User.Requests)
			}
			return
		}
		select {
		case <-waitSum:
			t.Fatalf("green requests summed = %d, want 160 (100 + 50 + 10)", got.User.Requests)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
