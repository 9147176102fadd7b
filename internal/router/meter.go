package router

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Measurement is what a slot answered since the router started:
// cumulative counts, for the analysis of a deployment. Subtract two
// snapshots to get a window.
type Measurement struct {
	// Requests counts answers: the instance's responses and the router's
	// own 502/503/499, production and preview.
	Requests uint64
	// Errors counts answers with a 5xx status, the router's own 502 and 503
	// (connection failures, no healthy instance) included.
	Errors uint64
	// MCPErrors counts the errors found inside 2xx answers to MCP
	// (JSON-RPC) requests; they are also in Errors.
	MCPErrors uint64
	// Latency counts requests by time to the response headers (or to the
	// router's error answer) in the buckets of LatencyBounds.
	Latency []uint64
}

// Latency buckets: exact below 16µs, then 16 buckets per power of two, so
// a bucket is at most 1/16 (6.25%) of its lower bound wide. The last
// bucket holds everything from about 73 minutes up.
const (
	subBuckets     = 16
	maxLatencyBits = 33 // 2^32 µs ≈ 71.6 min
	latencyBuckets = subBuckets * (maxLatencyBits - 3)
)

// LatencyBounds returns the upper bound of each latency bucket of a
// Measurement (a new slice each call).
func LatencyBounds() []time.Duration {
	out := make([]time.Duration, latencyBuckets)
	for i := range out {
		out[i] = time.Duration(bucketUpper(i)) * time.Microsecond
	}
	return out
}

// bucketOf maps a latency in microseconds to its bucket.
func bucketOf(us uint64) int {
	if us < subBuckets {
		return int(us)
	}
	e := bits.Len64(us) - 1 // ≥ 4
	if e >= maxLatencyBits-1 {
		return latencyBuckets - 1
	}
	m := (us >> (e - 4)) & (subBuckets - 1)
	return subBuckets*(e-3) + int(m)
}

// bucketUpper is the exclusive upper bound of bucket i in microseconds.
func bucketUpper(i int) uint64 {
	if i < subBuckets {
		return uint64(i + 1)
	}
	e, m := i/subBuckets+3, uint64(i%subBuckets)
	return (subBuckets + m + 1) << (e - 4)
}

// meter counts one slot's answers with atomic adds: the request path
// takes no lock, and a snapshot never stops it.
type meter struct {
	requests  atomic.Uint64
	errors    atomic.Uint64
	mcpErrors atomic.Uint64 // errors found in 2xx MCP answers (also in errors)
	latency   [latencyBuckets]atomic.Uint64
}

// record counts one answer with status code and latency d.
func (m *meter) record(code int, d time.Duration) {
	m.requests.Add(1)
	if code >= 500 && code <= 599 {
		m.errors.Add(1)
	}
	m.latency[bucketOf(uint64(max(d, 0)/time.Microsecond))].Add(1)
}

// snapshot reads the counts. Reads are not one atomic step: a request
// recorded meanwhile may be in some counts and not others, which a later
// snapshot makes good.
func (m *meter) snapshot() Measurement {
	out := Measurement{Latency: make([]uint64, latencyBuckets)}
	for i := range m.latency {
		out.Latency[i] = m.latency[i].Load()
	}
	out.MCPErrors = m.mcpErrors.Load()
	out.Errors = m.errors.Load()
	out.Requests = m.requests.Load()
	return out
}

// Measure returns slot's cumulative measurement (zero for an invalid
// slot).
func (r *Router) Measure(slot Slot) Measurement {
	i := slot.index()
	if i < 0 {
		return Measurement{}
	}
	return r.slots[i].meter.snapshot()
}
