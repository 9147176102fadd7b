package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bluegreen-dev/bluegreen/internal/health"
)

// DefaultDrainTimeout is used when Options.DrainTimeout is zero.
const DefaultDrainTimeout = 30 * time.Second

// Log attribute keys.
const (
	keySlot     = "slot"
	keyBackend  = "backend"
	keyCount    = "count"
	keyCause    = "cause"
	keyError    = "error"
	keyDeadline = "deadline"
)

// Options configures a Router.
type Options struct {
	// Logger receives state changes at Info/Warn and per-request details at
	// Debug. Nil discards.
	Logger *slog.Logger
	// Registry receives the router's metrics. Nil keeps them private.
	Registry prometheus.Registerer
	// DrainTimeout is how long a slot that lost production traffic keeps
	// serving the requests it already had; zero means DefaultDrainTimeout.
	DrainTimeout time.Duration
	// Sticky pins a client to the slot it first got during a weighted
	// split; nil turns sticky sessions off.
	Sticky *StickyOptions
	// PreviewHeader and PreviewSecret route a production request carrying
	// the header with exactly the secret to the idle slot. Both empty turn
	// header routing off; one without the other is an error.
	PreviewHeader, PreviewSecret string
	// Health configures active checks and the passive ejection ceiling
	// (MaxPassiveEjection, ejection.go); zero fields take health defaults.
	Health health.Options
	// MCPErrors counts, on the slots' meters, MCP errors inside 2xx
	// answers: a JSON-RPC error or a tool result with isError: true, in a
	// JSON or event-stream answer to a POST (the first 64 KiB of the body
	// are inspected as it streams).
	MCPErrors bool
	// Transport sends requests to instances; nil means a tuned shared
	// *http.Transport.
	Transport http.RoundTripper
	// MCPSessions pins MCP sessions (Streamable HTTP revisions up to
	// 2025-11-25): a response carrying Mcp-Session-Id pins the session to
	// the slot and the instance that answered, and later requests carrying
	// that id go there whatever the weights, while the instance is in
	// rotation. DELETE answered 2xx or 404, a 404 answer, or MCPSessionTTL
	// without use ends the pin.
	MCPSessions bool
	// MCPSessionTTL is the idle time after which a pin ends; zero means
	// DefaultMCPSessionTTL.
	MCPSessionTTL time.Duration
	// MCPSessionMax bounds the pin table; the least recently used pin is
	// evicted beyond it. Zero means DefaultMCPSessionMax.
	MCPSessionMax int
	// SessionDrain is how long a slot that lost all production traffic
	// keeps its pinned MCP sessions before it counts as drained (may
	// scale down: SessionsDrained) even if some are left; zero means
	// DrainTimeout. The sessions keep going to the slot while it runs.
	SessionDrain time.Duration
	// SessionStore, with MCPSessions, keeps the session table across
	// restarts: Run writes its changes behind the request path (batched,
	// bounded) and RestoreSessions loads it back. Nil keeps it in memory.
	SessionStore SessionStore
	// MCPMetrics counts MCP calls in bluegreen_mcp_requests_total
	// {slot,method,tool,outcome}; it reads the call from the Mcp-Method
	// and Mcp-Name headers or the first 64 KiB of a JSON POST body
	// (readMCPRequest).
	MCPMetrics bool
	// MCPToolLabels bounds the distinct tool names of that metric; others
	// count as "other". Zero means DefaultMCPToolLabels.
	MCPToolLabels int
	// Filters are the request filters measured on their own besides all
	// requests (MeasureOf), for analysis rules that judge some requests
	// only; at most MaxFilters. A filter on the MCP method or tool makes
	// the router read the call of JSON POSTs ahead (readMCPRequest).
	Filters []Filter
	// Affinity keeps a client on one slot during a weighted split: with
	// the sticky cookie (AffinityCookie, the default), by client IP
	// (AffinityClientIP; Sticky must be nil), or not at all (AffinityNone).
	Affinity Affinity
	// MaxRequestBody is the largest request body, in bytes, forwarded on
	// the production and preview handlers; zero means no limit. A larger
	// one is a client error (413 body_too_large, clientbody.go): answered
	// before any instance is contacted when its Content-Length says so,
	// else when the byte past the limit is read. Synthetic requests are
	// not limited.
	MaxRequestBody int64
	// ResponseHeaderTimeout bounds the wait for an instance's response
	// head, on the fast path and http.Transport alike (504 timeout naming
	// the slot beyond); zero means no limit. Not applied to a Transport
	// given in Options.
	ResponseHeaderTimeout time.Duration
	// TrustedProxies are the peers (CIDR prefixes) whose X-Forwarded-For,
	// -Host and -Proto are honoured: kept, with this hop's peer appended
	// to X-Forwarded-For, and used to find the client's address for
	// AffinityClientIP (the rightmost X-Forwarded-For address that is not
	// a trusted proxy). From any other peer those headers are replaced by
	// this hop's values. Empty trusts no one.
	TrustedProxies []netip.Prefix
}

// Router routes requests to the instances of the blue and green slots. It
// is safe for concurrent use.
type Router struct {
	log          *slog.Logger
	drainTimeout time.Duration
	health       health.Options
	healthClient *http.Client
	preview      previewRoute
	sticky       *sticky
	mcpErrors    bool
	// filters are Options.Filters; filterMCP is set when one needs the
	// MCP call of a request.
	filters   []Filter
	filterMCP bool
	// clientIP picks the slot of a weighted split by client IP.
	clientIP bool
	// trusted is Options.TrustedProxies (forwarded.go).
	trusted trustedProxies
	// maxBody is Options.MaxRequestBody.
	maxBody int64
	// streamGrace bounds the clean end of a stream (stream.go).
	streamGrace time.Duration
	// sessions is nil unless Options.MCPSessions; sessionStore is
	// Options.SessionStore when sessions is not nil.
	sessions            *sessionTable
	sessionStore        SessionStore
	sessionDrainTimeout time.Duration
	metrics             *metrics
	// mcpMetrics is nil unless Options.MCPMetrics.
	mcpMetrics *mcpMetrics
	// onResponse runs on every instance response (responseHooks).
	onResponse []responseHook

	table atomic.Pointer[compiledTable]
	slots [numSlots]slotState

	production http.Handler
	previewH   http.Handler

	// mu serialises SetTable so drain decisions see tables in order.
	mu sync.Mutex
	// backendsChanged wakes Run when a pool changed.
	backendsChanged chan struct{}
	running         atomic.Bool

	// bufs are the body copy buffers of every proxy.
	bufs *bufferPool
	// fast is the slots' base transport when New made it (fastpath.go).
	fast *fastTransport
	// direct counts the requests served by a FastListener itself,
	// handoffs the connections it gave to net/http (fastserve.go).
	direct, handoffs atomic.Int64

	// Test seams.
	observeHook func(observation)
	afterFunc   func(time.Duration, func()) stopper
}

// stopper is the part of *time.Timer the drain uses.
type stopper interface{ Stop() bool }

// slotState is everything the router keeps per slot.
type slotState struct {
	slot  Slot
	pool  pool
	proxy *httputil.ReverseProxy
	// pinnedProxy serves requests of pinned MCP sessions: its transport
	// sends them to the instance in their requestInfo.
	pinnedProxy *httputil.ReverseProxy
	inflight    atomic.Int64
	retries     atomic.Int64
	// passiveRefused counts the times the passive ejection ceiling kept
	// an instance in rotation (ejection.go).
	passiveRefused atomic.Int64
	drain          drainState
	metrics        slotMetrics
	// meters count the slot's answers for analysis, per kind of traffic:
	// [0] all requests, [i+1] those Options.Filters[i] selects.
	meters [numTraffic][]meter
	// streams counts open SSE and WebSocket streams (stream.go).
	streams slotStreams
	// slotHeader is the X-Bluegreen-Slot value, shared by all responses
	// (len == cap so an append never writes into it).
	slotHeader []string
}

// New returns a Router with no backends and all production traffic on blue.
func New(opts Options) (*Router, error) {
	if opts.DrainTimeout < 0 {
		return nil, fmt.Errorf("new router: drain timeout %s is negative", opts.DrainTimeout)
	}
	if opts.MCPSessionTTL < 0 || opts.MCPSessionMax < 0 || opts.SessionDrain < 0 || opts.MCPToolLabels < 0 {
		return nil, fmt.Errorf("new router: mcp session ttl %s, max %d, session drain %s and tool labels %d must not be negative",
			opts.MCPSessionTTL, opts.MCPSessionMax, opts.SessionDrain, opts.MCPToolLabels)
	}
	if opts.MaxRequestBody < 0 {
		return nil, fmt.Errorf("new router: max request body %d is negative", opts.MaxRequestBody)
	}
	for i, p := range opts.TrustedProxies {
		if !p.IsValid() {
			return nil, fmt.Errorf("new router: trusted proxy %d is not a valid CIDR prefix", i)
		}
	}
	if opts.DrainTimeout == 0 {
		opts.DrainTimeout = DefaultDrainTimeout
	}
	if opts.SessionDrain == 0 {
		opts.SessionDrain = opts.DrainTimeout
	}
	hopts := opts.Health.WithDefaults()
	if err := hopts.Validate(); err != nil {
		return nil, fmt.Errorf("new router: %w", err)
	}
	if err := checkFilters(opts.Filters); err != nil {
		return nil, fmt.Errorf("new router: %w", err)
	}
	pr, err := newPreviewRoute(opts.PreviewHeader, opts.PreviewSecret)
	if err != nil {
		return nil, fmt.Errorf("new router: %w", err)
	}
	st, err := newSticky(opts.Sticky)
	if err != nil {
		return nil, fmt.Errorf("new router: %w", err)
	}
	if err := opts.Affinity.check(opts.Sticky); err != nil {
		return nil, fmt.Errorf("new router: %w", err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	reg := opts.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	base := opts.Transport
	if base == nil {
		base = newFastTransport(newTransport(), opts.ResponseHeaderTimeout) // fastpath.go: per request, fast path or http.Transport
	}

	r := &Router{
		log:             logger,
		drainTimeout:    opts.DrainTimeout,
		health:          hopts,
		healthClient:    newHealthClient(),
		preview:         pr,
		sticky:          st,
		mcpErrors:       opts.MCPErrors,
		filters:         slices.Clone(opts.Filters),
		filterMCP:       slices.ContainsFunc(opts.Filters, Filter.needsMCP),
		clientIP:        opts.Affinity == AffinityClientIP,
		maxBody:         opts.MaxRequestBody,
		trusted:         maskedPrefixes(opts.TrustedProxies),
		streamGrace:     DefaultStreamGrace,
		backendsChanged: make(chan struct{}, 1),
		afterFunc:       func(d time.Duration, f func()) stopper { return time.AfterFunc(d, f) },
	}
	if opts.MCPSessions {
		r.sessions = newSessionTable(opts.MCPSessionTTL, opts.MCPSessionMax, time.Now)
		r.sessionDrainTimeout = opts.SessionDrain
		if opts.SessionStore != nil {
			r.sessionStore = opts.SessionStore
			r.sessions.wb = newPinQueue(r.sessions.ttl, r.sessions.max)
		}
	}
	if opts.MCPMetrics {
		r.mcpMetrics = newMCPMetrics(opts.MCPToolLabels)
	}
	r.fast, _ = base.(*fastTransport)
	m, err := newMetrics(reg, r)
	if err != nil {
		return nil, fmt.Errorf("new router: %w", err)
	}
	r.metrics = m
	r.onResponse = r.responseHooks()

	bufs := &bufferPool{}
	r.bufs = bufs
	errLog := slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	for i, slot := range allSlots() {
		s := &r.slots[i]
		s.slot = slot
		s.slotHeader = []string{string(slot)}[:1:1]
		s.pool.init(slot)
		s.drain.init()
		s.metrics = m.forSlot(slot)
		for t := range s.meters {
			s.meters[t] = make([]meter, 1+len(r.filters))
		}
		st := &slotTransport{r: r, s: s, base: base}
		s.proxy = &httputil.ReverseProxy{
			Rewrite:   r.rewrite,
			Transport: st,
			// ReverseProxy flushes SSE (text/event-stream) and responses
			// without Content-Length after every write whatever this says.
			// For sized responses 0 avoids its flush timer, which costs a
			// goroutine and a separate write for the headers per response
			// (about 40% of the proxy's throughput in BenchmarkProxy).
			FlushInterval:  0,
			ErrorLog:       errLog,
			BufferPool:     bufs,
			ModifyResponse: r.modifyResponse(s),
			ErrorHandler:   r.errorHandler(s),
		}
		pinned := *s.proxy
		pinned.Transport = &pinnedTransport{st: st}
		s.pinnedProxy = &pinned
	}
	r.table.Store(compile(LiveTable(Blue)))
	r.metrics.setWeights(r.table.Load())
	r.production = http.HandlerFunc(r.serveProduction)
	r.previewH = http.HandlerFunc(r.servePreview)
	return r, nil
}

// slotState returns the state of s, or nil for an invalid slot.
func (r *Router) slotState(s Slot) *slotState {
	i := s.Index()
	if i < 0 {
		return nil
	}
	return &r.slots[i]
}

// Production returns the handler for the production listener.
func (r *Router) Production() http.Handler { return r.production }

// Preview returns the handler for the preview listener: every request goes
// to the idle slot.
func (r *Router) Preview() http.Handler { return r.previewH }

// Table returns the current route table.
func (r *Router) Table() Table { return r.table.Load().table.clone() }

// SetTable validates t and swaps it in atomically. A slot that loses all
// production traffic starts draining; a slot that regains traffic cancels
// its pending drain.
func (r *Router) SetTable(t Table) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("set route table: %w", err)
	}
	next := compile(t)

	r.mu.Lock()
	defer r.mu.Unlock()
	prev := r.table.Swap(next)
	r.metrics.setWeights(next)
	if r.sessions != nil {
		r.sessions.trafficChanged(prev.weights, next.weights)
	}
	for i := range numSlots {
		s := &r.slots[i]
		switch {
		case prev.weights[i] > 0 && next.weights[i] == 0:
			r.startDrain(s)
		case prev.weights[i] == 0 && next.weights[i] > 0:
			r.stopDrain(s)
		}
	}
	r.log.Info("route table changed",
		"live", next.table.Live,
		"blue_weight", next.weights[Blue.Index()],
		"green_weight", next.weights[Green.Index()])
	return nil
}

// SetBackends replaces the instances of slot. Addresses already present keep
// their health state; new ones start healthy or not per healthy. Removed
// ones stop being checked and finish their in-flight requests.
func (r *Router) SetBackends(slot Slot, addrs []string, healthy bool) {
	s := r.slotState(slot)
	if s == nil {
		r.log.Error("set backends: invalid slot", keySlot, slot)
		return
	}
	added, removed := s.pool.replace(addrs,
		func(addr string) *backend { return newBackend(slot, addr, healthy, r.health, r.metrics.backendUp) },
		func(b *backend) {
			b.remove()
			r.metrics.deleteBackend(b)
		})
	select {
	case r.backendsChanged <- struct{}{}:
	default:
	}
	if added > 0 || removed > 0 {
		r.log.Info("backends changed", keySlot, slot,
			"backends", s.pool.addrs(), "added", added, "removed", removed)
	}
	if removed > 0 && r.sessions != nil {
		r.dropGonePins(s)
	}
}

// SlotReady returns how many instances of slot are healthy, of how many.
func (r *Router) SlotReady(slot Slot) (healthy, total int) {
	s := r.slotState(slot)
	if s == nil {
		return 0, 0
	}
	return s.pool.counts()
}

// Run runs active health checks for every instance until ctx ends, starting
// and stopping checks as SetBackends changes the pools, and, with
// Options.SessionStore, writes the MCP session table's changes to the
// store (a last time after ctx ends). It returns nil when ctx ends.
func (r *Router) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("run router: already running")
	}
	defer r.running.Store(false)

	var wg sync.WaitGroup
	checks := make(map[*backend]context.CancelFunc)
	defer func() {
		for _, cancel := range checks {
			cancel()
		}
		wg.Wait()
		for i := range numSlots {
			r.stopDrainTimer(&r.slots[i])
		}
	}()
	if r.sessionStore != nil {
		// Ends with ctx, after a last flush.
		wg.Go(func() { r.persistSessions(ctx, r.sessionStore) })
	}
	for {
		current := make(map[*backend]bool)
		for i := range numSlots {
			for _, b := range r.slots[i].pool.all() {
				current[b] = true
			}
		}
		for b := range current {
			if _, ok := checks[b]; ok {
				continue
			}
			cctx, cancel := context.WithCancel(ctx)
			checks[b] = cancel
			wg.Go(func() {
				health.Loop(cctx, r.health, r.healthClient, b.addr, func(ok bool, err error) {
					r.observe(b, sourceActive, ok, err)
				})
			})
		}
		for b, cancel := range checks {
			if !current[b] {
				cancel()
				delete(checks, b)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.backendsChanged:
		}
	}
}

// observationSource says where a health observation came from.
type observationSource string

const (
	sourceActive  observationSource = "active"
	sourcePassive observationSource = "passive"
)

// observation is one health result, as reported to the test hook.
type observation struct {
	slot    Slot
	addr    string
	source  observationSource
	ok      bool
	healthy bool // in rotation after it
	changed bool
	held    bool // in rotation only by the passive ejection ceiling
}

// observe feeds one health result of b into its counter and takes b out of
// (or back into) rotation when its state changes, within the slot's
// passive ejection ceiling (ejection.go). It runs under the pool's lock:
// health results are rare next to requests, and the ceiling must see the
// slot's other instances as they are.
func (r *Router) observe(b *backend, source observationSource, ok bool, err error) {
	s := r.slotState(b.slot)
	p := &s.pool
	p.mu.Lock()
	res := b.observe(source, ok, func() bool { return p.mayEjectLocked(r.health) })
	if res.changed {
		p.rebuildHealthyLocked()
	}
	p.mu.Unlock()
	if !res.applied {
		return
	}
	healthyN, total := p.counts()
	switch {
	case res.changed && res.up:
		r.log.Info("backend back in rotation", keySlot, b.slot, keyBackend, b.addr,
			"healthy", healthyN, "total", total)
	case res.changed:
		r.log.Warn("backend left rotation", keySlot, b.slot, keyBackend, b.addr,
			"source", source, keyError, err, "healthy", healthyN, "total", total)
	case res.newlyHeld:
		s.passiveRefused.Add(1)
		r.log.Warn("backend kept in rotation: passive checks alone may not take more instances of the slot out",
			keySlot, b.slot, keyBackend, b.addr, keyError, err, "failures", b.failures.Load(),
			"max_out", r.health.PassiveEjectionLimit(total), "healthy", healthyN, "total", total)
	case res.released:
		r.log.Info("backend no longer held in rotation: active checks pass", keySlot, b.slot, keyBackend, b.addr)
	}
	if hook := r.observeHook; hook != nil {
		hook(observation{slot: b.slot, addr: b.addr, source: source, ok: ok, healthy: res.up, changed: res.changed, held: res.held})
	}
}

// CancelAll cancels every in-flight request on both slots, for production
// and preview, with cause (logged), and ends every stream cleanly; it
// returns once they are all over, or after the stream grace period. Used
// at shutdown once the servers stopped accepting and the grace period is
// over.
func (r *Router) CancelAll(cause error) {
	if cause == nil {
		cause = errors.New("router shutdown")
	}
	all := make([]*slotState, numSlots)
	for i := range numSlots {
		all[i] = &r.slots[i]
		r.cancelAll(all[i], cause)
	}
	// Streams end cleanly (an SSE retry hint, a WebSocket close
	// handshake) within the stream grace; wait for them so the caller can
	// close the servers without cutting them.
	r.awaitIdle(r.streamGrace+time.Second, all...)
}

// EndSlot ends everything still in flight on one slot, production and
// preview: requests are cancelled with cause and streams end cleanly (an SSE
// retry hint, a WebSocket close 1001), as at a drain deadline. It returns
// once the slot is idle, or after the stream grace period. The process
// driver calls it (through the server) just before it stops a slot's
// release, so its streams end cleanly instead of being cut by the exit.
func (r *Router) EndSlot(slot Slot, cause error) {
	s := r.slotState(slot)
	if s == nil {
		return
	}
	if cause == nil {
		cause = fmt.Errorf("slot %s is stopping", slot)
	}
	r.cancelAll(s, cause)
	r.awaitIdle(r.streamGrace+time.Second, s)
}

// errNoHealthy reports that a slot has no instance in rotation.
type noHealthyError struct {
	slot           Slot
	healthy, total int
}

func (e *noHealthyError) Error() string {
	return fmt.Sprintf("bluegreen: no healthy instance in slot %s (%d of %d healthy)", e.slot, e.healthy, e.total)
}

// addrsOf lists the addresses of bs.
func addrsOf(bs []*backend) []string {
	out := make([]string, 0, len(bs))
	for _, b := range bs {
		out = append(out, b.addr)
	}
	return slices.Clip(out)
}
