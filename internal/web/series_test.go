package web

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/analysis"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// fakeMeter returns counts set by the test.
type fakeMeter struct {
	mu     sync.Mutex
	counts map[slot.Slot]analysis.Counts
}

func (m *fakeMeter) Measure(sl slot.Slot) analysis.Counts {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.counts[sl]
}

func (m *fakeMeter) set(sl slot.Slot, requests, errors uint64, latency []uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.counts[sl] = analysis.Counts{Requests: requests, Errors: errors,
		Latency: analysis.Histogram{Bounds: []float64{0.001, 0.01, 0.1, 1}, Counts: latency}}
}

func TestSeriesSamplesRates(t *testing.T) {
	m := &fakeMeter{counts: map[slot.Slot]analysis.Counts{}}
	s := NewSeries(m, 5*time.Second, 3)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m.set("blue", 1000, 10, []uint64{1000, 0, 0, 0}) // before the baseline: not charted
	s.Sample(t0)
	if n := len(s.Points()); n != 0 {
		t.Fatalf("%d points after the baseline, want 0", n)
	}
	ch, cancel := s.Subscribe(1)
	defer cancel()
	// 100 more requests on blue in 5s, 5 errors, 1 slow; green silent.
	m.set("blue", 1100, 15, []uint64{1099, 0, 0, 1})
	s.Sample(t0.Add(5 * time.Second))
	p := (<-ch)
	b, g := p.Slots["blue"], p.Slots["green"]
	if b.Requests != 100 || b.Errors != 5 || b.RequestRate != 20 || b.ErrorRate == nil || *b.ErrorRate != 0.05 {
		t.Fatalf("blue %+v, want 100 requests, 20/s, 5%% errors", b)
	}
	if b.P99 == nil || *b.P99 != 0.0005 {
		t.Fatalf("blue p99 %v, want the middle of the first bucket (0.5ms)", b.P99)
	}
	if g.Requests != 0 || g.ErrorRate != nil || g.P99 != nil {
		t.Fatalf("green %+v, want no requests and no rates", g)
	}
	for i := 2; i <= 5; i++ {
		s.Sample(t0.Add(time.Duration(i) * 5 * time.Second))
	}
	pts := s.Points()
	if len(pts) != 3 {
		t.Fatalf("%d points kept, want the ring's 3", len(pts))
	}
	for i, p := range pts {
		if want := t0.Add(time.Duration(i+3) * 5 * time.Second); !p.Time.Equal(want) {
			t.Fatalf("point %d at %s, want %s (oldest first)", i, p.Time, want)
		}
	}
}

func TestSeriesEndpoint(t *testing.T) {
	m := &fakeMeter{counts: map[slot.Slot]analysis.Counts{}}
	series := NewSeries(m, time.Second, 10)
	series.Sample(time.Now())
	m.set("green", 50, 0, []uint64{0, 50, 0, 0})
	series.Sample(time.Now().Add(time.Second))
	h, err := New(Options{Backend: &fakeBackend{}, Token: token, Series: series})
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, h)
	code, body := call(t, srv, "GET", "/api/v1/metrics/series", token, "")
	var v seriesView
	if err := json.Unmarshal([]byte(body), &v); err != nil || code != 200 {
		t.Fatalf("series: %d %s (%v)", code, body, err)
	}
	if v.IntervalSeconds != 1 || v.Size != 10 || len(v.Points) != 1 || v.Points[0].Slots["green"].Requests != 50 {
		t.Fatalf("series %+v", v)
	}
	if code, _ := call(t, srv, "GET", "/api/v1/metrics/series", "", ""); code != 401 {
		t.Fatalf("series without a token: %d, want 401", code)
	}
}

func TestEventsStreamIncludesStatusAndSamples(t *testing.T) {
	m := &fakeMeter{counts: map[slot.Slot]analysis.Counts{}}
	series := NewSeries(m, time.Second, 10)
	series.Sample(time.Now())
	h, err := New(Options{Backend: &fakeBackend{}, Token: token, Series: series})
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, h)
	if code, body := call(t, srv, "GET", "/api/v1/events?include=status,nope", token, ""); code != 400 || !strings.Contains(body, "include") {
		t.Fatalf("bad include: %d %s, want 400", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/events?include=status,samples", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	next := func() (event, data string) {
		t.Helper()
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				event = v
			}
			if v, ok := strings.CutPrefix(line, "data: "); ok {
				return event, v
			}
		}
		t.Fatalf("stream ended: %v", sc.Err())
		return "", ""
	}
	// The status comes first, at once.
	if ev, data := next(); ev != "status" || !strings.Contains(data, `"app":"shop"`) {
		t.Fatalf("first event %s %s, want the status", ev, data)
	}
	// A new metrics point is pushed as it is taken.
	m.set("blue", 7, 0, []uint64{7, 0, 0, 0})
	series.Sample(time.Now().Add(time.Second))
	ev, data := next()
	var p Point
	if err := json.Unmarshal([]byte(data), &p); ev != "sample" || err != nil || p.Slots["blue"].Requests != 7 {
		t.Fatalf("event %s %s (%v), want a sample with 7 requests on blue", ev, data, err)
	}
}

func newServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}
