package web

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/analysis"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// Meter reads one slot's cumulative counts since the router started (the
// router's own measurements, as the analysis reads them).
type Meter interface {
	Measure(s slot.Slot) analysis.Counts
}

// Defaults for the dashboard's charts: a point every 5s, 15 minutes kept.
const (
	SeriesInterval = 5 * time.Second
	SeriesSize     = 180
)

// seriesSlots are the slots sampled, in the order charts show them.
var seriesSlots = slot.All()

// Series keeps the last Size samples of each slot's request rate, error
// rate and p99 latency in a ring buffer, in memory: the dashboard's charts
// of the last 15 minutes. A restart of serve starts it empty.
type Series struct {
	meter Meter
	every time.Duration

	mu     sync.Mutex
	ring   []Point
	next   int // where the next point goes
	full   bool
	prev   [len(seriesSlots)]analysis.Counts
	prevAt time.Time
	subs   map[int]chan Point
	subID  int
}

// Point is one sample: each slot's numbers over the interval that ended
// at Time.
type Point struct {
	Time  time.Time               `json:"t"`
	Slots map[slot.Slot]SlotPoint `json:"slots"`
}

// SlotPoint is one slot's numbers over one interval. ErrorRate and P99
// are absent when the slot answered nothing in it.
type SlotPoint struct {
	Requests    uint64   `json:"requests"`
	Errors      uint64   `json:"errors"`
	RequestRate float64  `json:"rps"`
	ErrorRate   *float64 `json:"error_rate,omitempty"`
	P99         *float64 `json:"p99,omitempty"` // seconds
}

// NewSeries samples m every interval and keeps size points (defaults:
// SeriesInterval, SeriesSize for values ≤ 0).
func NewSeries(m Meter, interval time.Duration, size int) *Series {
	if interval <= 0 {
		interval = SeriesInterval
	}
	if size <= 0 {
		size = SeriesSize
	}
	return &Series{meter: m, every: interval, ring: make([]Point, size), subs: map[int]chan Point{}}
}

// Interval is the time between two points.
func (s *Series) Interval() time.Duration { return s.every }

// Run samples until ctx is cancelled; it returns nil then.
func (s *Series) Run(ctx context.Context) error {
	s.Sample(time.Now()) // the baseline: counts before it are not charted
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			s.Sample(now)
		}
	}
}

// Sample reads the counters at now. The first call only sets the
// baseline; each later one adds a point for the time since the previous
// call and sends it to the subscribers.
func (s *Series) Sample(now time.Time) {
	var cur [len(seriesSlots)]analysis.Counts
	for i, sl := range seriesSlots {
		cur[i] = s.meter.Measure(sl)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	prev, prevAt := s.prev, s.prevAt
	s.prev, s.prevAt = cur, now
	if prevAt.IsZero() || !now.After(prevAt) {
		return
	}
	window := now.Sub(prevAt)
	p := Point{Time: now.UTC().Truncate(time.Millisecond), Slots: make(map[slot.Slot]SlotPoint, len(seriesSlots))}
	for i, sl := range seriesSlots {
		sum := analysis.Summarize(cur[i].Sub(prev[i]), window)
		p.Slots[sl] = SlotPoint{Requests: sum.Requests, Errors: sum.Errors,
			RequestRate: sum.RequestRate, ErrorRate: sum.ErrorRate, P99: sum.P99}
	}
	s.ring[s.next] = p
	s.next = (s.next + 1) % len(s.ring)
	if s.next == 0 {
		s.full = true
	}
	for _, ch := range s.subs {
		select {
		case ch <- p:
		default: // a slow reader misses a point; the next fetch has it
		}
	}
}

// Points returns the kept points, oldest first.
func (s *Series) Points() []Point {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Point
	if s.full {
		out = append(out, s.ring[s.next:]...)
	}
	return append(out, s.ring[:s.next]...)
}

// Subscribe sends every new point until cancel is called.
func (s *Series) Subscribe(buffer int) (<-chan Point, func()) {
	ch := make(chan Point, max(buffer, 1))
	s.mu.Lock()
	id := s.subID
	s.subID++
	s.subs[id] = ch
	s.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			s.mu.Lock()
			delete(s.subs, id)
			s.mu.Unlock()
		})
	}
}

// seriesView is the answer of GET /api/v1/metrics/series.
type seriesView struct {
	IntervalSeconds float64     `json:"interval_seconds"`
	Size            int         `json:"size"`
	Slots           []slot.Slot `json:"slots"`
	Points          []Point     `json:"points"`
}

func (h *handler) series(w http.ResponseWriter, _ *http.Request) {
	s := h.opts.Series
	v := seriesView{IntervalSeconds: SeriesInterval.Seconds(), Size: SeriesSize, Slots: seriesSlots[:], Points: []Point{}}
	if s != nil {
		v.IntervalSeconds, v.Size, v.Points = s.every.Seconds(), len(s.ring), s.Points()
	}
	writeCompactJSON(w, http.StatusOK, v)
}
