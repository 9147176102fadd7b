package analysis

import (
	"math"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/config"
)

// Histogram counts latencies in buckets. Bounds[i] is the upper bound of
// bucket i in seconds (ascending); the lower bound of bucket i is
// Bounds[i-1], or 0 for the first one. Counts has one entry per bound.
type Histogram struct {
	Bounds []float64
	Counts []uint64
}

// Total is the number of observations.
func (h Histogram) Total() uint64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// Sub is h minus prev, bucket by bucket (prev is an earlier snapshot of the
// same cumulative histogram; a bucket that went down counts 0).
func (h Histogram) Sub(prev Histogram) Histogram {
	out := Histogram{Bounds: h.Bounds, Counts: make([]uint64, len(h.Counts))}
	for i, c := range h.Counts {
		var p uint64
		if i < len(prev.Counts) {
			p = prev.Counts[i]
		}
		if c > p {
			out.Counts[i] = c - p
		}
	}
	return out
}

// Quantile estimates the q-quantile (0 < q ≤ 1) in seconds as the middle
// of the bucket holding it. ok is false when the histogram is empty.
func (h Histogram) Quantile(q float64) (seconds float64, ok bool) {
	total := h.Total()
	if total == 0 || len(h.Bounds) != len(h.Counts) {
		return 0, false
	}
	rank := uint64(math.Ceil(q * float64(total)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.Counts {
		seen += c
		if seen >= rank {
			lo := 0.0
			if i > 0 {
				lo = h.Bounds[i-1]
			}
			return (lo + h.Bounds[i]) / 2, true
		}
	}
	return h.Bounds[len(h.Bounds)-1], true
}

// Counts are what the router measured of one slot: cumulative since it
// started, or, after Sub, over one window.
type Counts struct {
	Requests uint64 // responses, including the router's own 502/503
	Errors   uint64 // 5xx answers and connection failures
	Latency  Histogram
}

// Sub is the window between an earlier snapshot prev and c.
func (c Counts) Sub(prev Counts) Counts {
	d := Counts{Latency: c.Latency.Sub(prev.Latency)}
	if c.Requests > prev.Requests {
		d.Requests = c.Requests - prev.Requests
	}
	if c.Errors > prev.Errors {
		d.Errors = c.Errors - prev.Errors
	}
	return d
}

// Measurement is what the router measured of one slot, cumulatively or
// (after Sub) over a window: the users' requests and bluegreen's synthetic
// ones apart, each in all and for each rule filter (those the router was
// told to count).
type Measurement struct {
	User              Counts
	Synthetic         Counts
	UserFiltered      map[config.Filter]Counts
	SyntheticFiltered map[config.Filter]Counts
}

// Sub is the window between an earlier snapshot prev and m.
func (m Measurement) Sub(prev Measurement) Measurement {
	return Measurement{
		User:              m.User.Sub(prev.User),
		Synthetic:         m.Synthetic.Sub(prev.Synthetic),
		UserFiltered:      subFiltered(m.UserFiltered, prev.UserFiltered),
		SyntheticFiltered: subFiltered(m.SyntheticFiltered, prev.SyntheticFiltered),
	}
}

func subFiltered(m, prev map[config.Filter]Counts) map[config.Filter]Counts {
	if m == nil {
		return nil
	}
	out := make(map[config.Filter]Counts, len(m))
	for f, c := range m {
		out[f] = c.Sub(prev[f])
	}
	return out
}

// Summary is one slot's numbers over one window, as shown to people.
// Latencies are in seconds; they are absent when nothing was measured.
type Summary struct {
	Requests    uint64   `json:"requests"`
	Errors      uint64   `json:"errors"`
	ErrorRate   *float64 `json:"error_rate,omitempty"`
	RequestRate float64  `json:"request_rate"` // requests per second
	P50         *float64 `json:"latency_p50,omitempty"`
	P90         *float64 `json:"latency_p90,omitempty"`
	P95         *float64 `json:"latency_p95,omitempty"`
	P99         *float64 `json:"latency_p99,omitempty"`
}

// Summarize turns a window's counts into a Summary.
func Summarize(c Counts, window time.Duration) Summary {
	s := Summary{Requests: c.Requests, Errors: c.Errors}
	if window > 0 {
		s.RequestRate = float64(c.Requests) / window.Seconds()
	}
	if c.Requests > 0 {
		s.ErrorRate = ptr(float64(c.Errors) / float64(c.Requests))
	}
	for _, p := range []struct {
		q   float64
		dst **float64
	}{{0.50, &s.P50}, {0.90, &s.P90}, {0.95, &s.P95}, {0.99, &s.P99}} {
		if v, ok := c.Latency.Quantile(p.q); ok {
			*p.dst = ptr(v)
		}
	}
	return s
}

func ptr[T any](v T) *T { return &v }
