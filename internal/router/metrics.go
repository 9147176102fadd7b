package router

import (
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the router's Prometheus metrics, registered on the registry
// passed to New.
type metrics struct {
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	weight    *prometheus.GaugeVec
	backendUp *prometheus.GaugeVec
	// clientErrors counts requests whose body the client broke
	// (clientbody.go).
	clientErrors *prometheus.CounterVec
	// sessionsLost is registered only with Options.MCPSessions.
	sessionsLost *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, r *Router) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bluegreen_requests_total",
			Help: "Requests proxied, by slot and HTTP status code (499: client closed the request).",
		}, []string{"slot", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "bluegreen_request_duration_seconds",
			Help:    "Time from receiving a request to the end of its response, by slot.",
			Buckets: prometheus.DefBuckets,
		}, []string{"slot"}),
		weight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bluegreen_slot_weight",
			Help: "Share of production traffic routed to the slot, in percent.",
		}, []string{"slot"}),
		backendUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bluegreen_backend_up",
			Help: "1 when the instance is in rotation, 0 when health checks took it out.",
		}, []string{"slot", "backend"}),
		clientErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bluegreen_client_errors_total",
			Help: "Requests the router answered itself because it could not read the client's body (bad_body 400, body_too_large 413, timeout 408, client_closed 499); not in bluegreen_requests_total, not failures of an instance.",
		}, []string{"slot", "reason"}),
	}
	collectors := []prometheus.Collector{m.requests, m.duration, m.weight, m.backendUp, m.clientErrors}
	collectors = append(collectors, streamCollectors(r)...)
	collectors = append(collectors, fastpathCollectors(r)...)
	for i, slot := range allSlots() {
		s := &r.slots[i]
		collectors = append(collectors, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "bluegreen_inflight_requests",
			Help:        "Requests (and streams) in flight on the slot.",
			ConstLabels: prometheus.Labels{"slot": string(slot)},
		}, func() float64 { return float64(s.inflight.Load()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name:        "bluegreen_passive_ejections_held",
				Help:        "Instances of the slot kept in rotation although passive failures would take them out, because health.max_passive_ejection allows no more out; they leave when active checks fail.",
				ConstLabels: prometheus.Labels{"slot": string(slot)},
			}, func() float64 { return float64(s.pool.heldCount()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name:        "bluegreen_passive_ejections_refused_total",
				Help:        "Times health.max_passive_ejection kept an instance of the slot in rotation that passive failures would have taken out.",
				ConstLabels: prometheus.Labels{"slot": string(slot)},
			}, func() float64 { return float64(s.passiveRefused.Load()) }))
	}
	if t := r.sessions; t != nil {
		m.sessionsLost = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bluegreen_mcp_sessions_lost_total",
			Help: "MCP session pins dropped because their instance left its pool or rotation; the request was routed normally.",
		}, []string{"slot"})
		collectors = append(collectors, m.sessionsLost, prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "bluegreen_mcp_sessions_evicted_total",
			Help: "MCP session pins evicted because the pin table was full.",
		}, func() float64 { return float64(t.evicted.Load()) }))
		for i, slot := range allSlots() {
			collectors = append(collectors, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name:        "bluegreen_mcp_sessions",
				Help:        "MCP sessions pinned to the slot.",
				ConstLabels: prometheus.Labels{"slot": string(slot)},
			}, func() float64 { return float64(t.counts()[i]) }))
		}
		if q := t.wb; q != nil {
			collectors = append(collectors,
				prometheus.NewCounterFunc(prometheus.CounterOpts{
					Name: "bluegreen_mcp_session_writes_dropped_total",
					Help: "MCP session pin changes not written to the store because its queue was full (a pin not saved is lost if serve restarts).",
				}, func() float64 { return float64(q.dropped.Load()) }),
				prometheus.NewCounterFunc(prometheus.CounterOpts{
					Name: "bluegreen_mcp_session_write_errors_total",
					Help: "Failed writes of MCP session pins to the store; they are retried.",
				}, func() float64 { return float64(q.failed.Load()) }))
		}
	}
	if mm := r.mcpMetrics; mm != nil {
		collectors = append(collectors, mm.requests)
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register router metrics: %w", err)
		}
	}
	return m, nil
}

// forSlot returns the per-slot metric cache.
func (m *metrics) forSlot(slot Slot) slotMetrics {
	sm := slotMetrics{
		slot:         string(slot),
		requests:     m.requests,
		codes:        new([600]atomic.Pointer[prometheus.Counter]),
		duration:     m.duration.WithLabelValues(string(slot)),
		clientErrors: make(map[clientReason]prometheus.Counter),
	}
	// Every series exists from the start, so a rate works from zero.
	for _, reason := range clientReasons() {
		sm.clientErrors[reason] = m.clientErrors.WithLabelValues(string(slot), string(reason))
	}
	return sm
}

func (m *metrics) setWeights(t *compiledTable) {
	for i, slot := range allSlots() {
		m.weight.WithLabelValues(string(slot)).Set(float64(t.weights[i]))
	}
}

func (m *metrics) deleteBackend(b *backend) {
	m.backendUp.DeleteLabelValues(string(b.slot), b.addr)
}

// slotMetrics caches the metric children of one slot so the request path
// does no label lookup.
type slotMetrics struct {
	slot     string
	requests *prometheus.CounterVec
	codes    *[600]atomic.Pointer[prometheus.Counter]
	duration prometheus.Observer
	// clientErrors is read-only once built.
	clientErrors map[clientReason]prometheus.Counter
}

// clientError returns the client_errors_total counter for reason.
func (m *slotMetrics) clientError(reason clientReason) prometheus.Counter {
	if c, ok := m.clientErrors[reason]; ok {
		return c
	}
	return m.clientErrors[reasonBadBody]
}

// code returns the requests_total counter for status code c.
func (m *slotMetrics) code(c int) prometheus.Counter {
	if c < 0 || c >= len(m.codes) {
		return m.requests.WithLabelValues(m.slot, strconv.Itoa(c))
	}
	if p := m.codes[c].Load(); p != nil {
		return *p
	}
	counter := m.requests.WithLabelValues(m.slot, strconv.Itoa(c))
	m.codes[c].Store(&counter)
	return counter
}
