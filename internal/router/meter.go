package router

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Measurement is what a slot answered since the router started, to one
// kind of traffic (and one filter): cumulative counts, for the analysis of
// a deployment. Subtract two snapshots to get a window.
type Measurement struct {
	// Requests counts answers: the instance's responses and the router's
	// own 502/503/499.
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

// Traffic says who sent the requests a measurement counts.
type Traffic int

// The kinds of traffic measured apart. Requests of the preview route (the
// preview listener, or the preview header) verify a release before users
// see it: they are not measured at all.
const (
	// UserTraffic is requests of the production listener.
	UserTraffic Traffic = iota
	// SyntheticTraffic is analysis' own requests (Router.Synthetic).
	SyntheticTraffic
	numTraffic
)

// kind is who sent one request: a Traffic, or the preview route.
type kind uint8

const (
	kindUser      = kind(UserTraffic)
	kindSynthetic = kind(SyntheticTraffic)
	kindPreview   = kind(numTraffic) // not measured
)

// MaxFilters bounds Options.Filters: a slot keeps counts per filter.
const MaxFilters = 32

// Filter selects requests for a measurement of their own (an analysis
// rule that measures only some requests). Every field set must match; the
// zero Filter selects every request.
type Filter struct {
	// PathPrefix: the URL path starts with it.
	PathPrefix string
	// MCPMethod: an MCP (JSON-RPC) POST with this method (Mcp-Method
	// header, or the body: see readMCPRequest).
	MCPMethod string
	// MCPTool: a tools/call of this tool (Mcp-Name header, or the body's
	// params.name).
	MCPTool string
}

func (f Filter) needsMCP() bool { return f.MCPMethod != "" || f.MCPTool != "" }

// match reports whether a request for path making call is selected.
func (f Filter) match(path string, call mcpRequest) bool {
	if !strings.HasPrefix(path, f.PathPrefix) {
		return false
	}
	if f.MCPMethod != "" && call.Method != f.MCPMethod {
		return false
	}
	return f.MCPTool == "" || (call.Method == mcpToolsCall && call.Name == f.MCPTool)
}

// checkFilters validates Options.Filters.
func checkFilters(fs []Filter) error {
	if len(fs) > MaxFilters {
		return fmt.Errorf("%d meter filters: at most %d", len(fs), MaxFilters)
	}
	seen := map[Filter]bool{}
	for _, f := range fs {
		switch {
		case f == Filter{}:
			return errors.New("meter filter selects every request: leave it out")
		case f.PathPrefix != "" && !strings.HasPrefix(f.PathPrefix, "/"):
			return fmt.Errorf("meter filter path prefix %q: must start with /", f.PathPrefix)
		case seen[f]:
			return fmt.Errorf("meter filter %+v given twice", f)
		}
		seen[f] = true
	}
	return nil
}

// meter counts one slot's answers of one kind of traffic and one filter
// with atomic adds: the request path takes no lock, and a snapshot never
// stops it.
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

// meterSet is the meters one request counts on: of its kind of traffic,
// meters[i] for every bit i of match (bit 0, all requests, is always set;
// bit i+1 is Options.Filters[i]). The zero meterSet counts nothing.
type meterSet struct {
	meters []meter
	match  uint64
}

// metersFor returns the meters of s a request with info ri counts on.
// Preview requests count on none; a request without info counts on the
// user meter of all requests.
func (s *slotState) metersFor(ri *requestInfo) meterSet {
	if ri == nil {
		return meterSet{meters: s.meters[UserTraffic], match: 1}
	}
	if ri.kind == kindPreview {
		return meterSet{}
	}
	return meterSet{meters: s.meters[ri.kind], match: ri.match | 1}
}

// record counts one answer on every meter of the set.
func (ms meterSet) record(code int, d time.Duration) {
	for b := ms.match; b != 0; b &= b - 1 {
		ms.meters[bits.TrailingZeros64(b)].record(code, d)
	}
}

// mcpError counts an MCP error found inside a 2xx answer already recorded.
func (ms meterSet) mcpError() {
	for b := ms.match; b != 0; b &= b - 1 {
		m := &ms.meters[bits.TrailingZeros64(b)]
		m.errors.Add(1)
		m.mcpErrors.Add(1)
	}
}

// brokenBody counts as an error an answer already recorded with a status
// below 500 whose body the instance broke off.
func (ms meterSet) brokenBody() {
	for b := ms.match; b != 0; b &= b - 1 {
		ms.meters[bits.TrailingZeros64(b)].errors.Add(1)
	}
}

// empty reports whether the set counts on no meter.
func (ms meterSet) empty() bool { return ms.match == 0 }

// matchFilters returns the filter bits (bit i+1 for Options.Filters[i])
// of a request for path making call (read by serve when r.readsMCP).
func (r *Router) matchFilters(path string, call mcpRequest) (match uint64) {
	for i, f := range r.filters {
		if f.match(path, call) {
			match |= 1 << (i + 1)
		}
	}
	return match
}

// readsMCP reports whether serve reads the MCP call of a request sent by
// k: for filters on the MCP method or tool (not for preview requests,
// which are not measured), or for the MCP metrics (not for synthetic
// requests, which they do not count).
func (r *Router) readsMCP(k kind) bool {
	return (r.filterMCP && k != kindPreview) || (r.mcpMetrics != nil && k != kindSynthetic)
}

// Measure returns slot's cumulative measurement of all user requests
// (zero for an invalid slot).
func (r *Router) Measure(slot Slot) Measurement {
	m, _ := r.MeasureOf(slot, UserTraffic, Filter{})
	return m
}

// MeasureOf returns slot's cumulative measurement of the requests of
// traffic t that filter f selects: the zero Filter for all of them, else
// one of Options.Filters. ok is false (and the measurement zero) for an
// invalid slot or traffic, or a filter the router was not given.
func (r *Router) MeasureOf(slot Slot, t Traffic, f Filter) (m Measurement, ok bool) {
	i := slot.Index()
	if i < 0 || t < 0 || t >= numTraffic {
		return Measurement{}, false
	}
	j := 0
	if f != (Filter{}) {
		j = slices.Index(r.filters, f) + 1
		if j == 0 {
			return Measurement{}, false
		}
	}
	return r.slots[i].meters[t][j].snapshot(), true
}
