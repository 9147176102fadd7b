package router

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"time"
)

// Response headers set by the router.
const (
	// HeaderSlot names the slot that served the response.
	HeaderSlot = "X-Bluegreen-Slot"
	// HeaderError says why the router itself answered with an error.
	HeaderError = "X-Bluegreen-Error"
)

// statusClientClosed is recorded when the client went away before the
// backend answered (nginx's convention).
const statusClientClosed = 499

// serveProduction routes a request of the production listener: preview
// header with the right secret → idle slot; else sticky cookie; else
// weighted random.
func (r *Router) serveProduction(w http.ResponseWriter, req *http.Request) {
	t := r.table.Load()
	if r.preview.enabled() {
		if values, ok := req.Header[r.preview.key]; ok {
			if r.preview.match(values) {
				r.serveIdle(w, req, t.idle)
				return
			}
			if r.log.Enabled(req.Context(), slog.LevelDebug) {
				r.log.LogAttrs(req.Context(), slog.LevelDebug, "preview header with a wrong secret; routing as production",
					slog.String("header", r.preview.key), slog.String("remote", req.RemoteAddr))
			}
		}
	}
	if r.sessions != nil {
		if i, b, ok := r.pinned(req, -1); ok {
			s := &r.slots[i]
			r.serve(w, req, s, s.drain.production.Load(), false, b, kindUser)
			return
		}
	}
	i, pin := r.pickProduction(t, req)
	s := &r.slots[i]
	r.serve(w, req, s, s.drain.production.Load(), pin, nil, kindUser)
}

// pickProduction returns the slot index for a production request, and
// whether the response should pin the client to it (a weighted split chose
// for a client without a valid sticky cookie).
func (r *Router) pickProduction(t *compiledTable, req *http.Request) (int, bool) {
	if t.only >= 0 {
		return t.only, false
	}
	if r.clientIP {
		return pickByClient(t, r.trusted, req), false
	}
	if r.sticky != nil {
		if v, ok := r.sticky.lookup(req.Header); ok {
			if i := Slot(v).Index(); i >= 0 && t.weights[i] > 0 {
				return i, false
			}
		}
	}
	i := 0
	if rand.IntN(100) >= t.weights[0] {
		i = 1
	}
	return i, r.sticky != nil
}

// servePreview routes every request of the preview listener to the idle
// slot.
func (r *Router) servePreview(w http.ResponseWriter, req *http.Request) {
	r.serveIdle(w, req, r.table.Load().idle)
}

// serveIdle serves a preview request on the idle slot (index idle), on the
// instance holding its MCP session when it has one there. Preview requests
// verify a release: they are not measured for analysis.
func (r *Router) serveIdle(w http.ResponseWriter, req *http.Request, idle int) {
	s := &r.slots[idle]
	var b *backend
	if r.sessions != nil {
		_, b, _ = r.pinned(req, idle)
	}
	r.serve(w, req, s, s.drain.preview.Load(), false, b, kindPreview)
}

// requestInfo is the outbound request's context: it carries when the
// request arrived (for the slot's meter) and whether its response must pin
// the client to its slot. Being the context itself saves the allocation of
// a context.WithValue on every request.
type requestInfo struct {
	context.Context
	start time.Time
	pin   bool
	// secure is set for a request that came over TLS: the sticky cookie
	// it gets is Secure.
	secure bool
	// backend is the instance holding the request's MCP session, nil for
	// a request that is not pinned.
	backend *backend
	// kind is who sent the request; match its filter bits (see meterSet).
	kind  kind
	match uint64
	// call is the MCP call the request makes, when the router reads it
	// (filters or MCP metrics; see readMCPRequest).
	call mcpRequest
	// ep and reg are where the request is registered for cancellation,
	// cancel cancels its context (stream.go); ws is set for a WebSocket
	// upgrade.
	ep     *epoch
	reg    *epochReq
	cancel context.CancelCauseFunc
	ws     *wsConn
	// cancelCtx cancels the context itself; cancel is cancelRequest,
	// which also ends the fast path's exchange on upstream. ownCancel
	// says cancel is the only way the context ends (its parent cannot be
	// cancelled), so the fast path may rely on cancelRequest instead of
	// a context.AfterFunc per exchange (upstreamWatch).
	cancelCtx context.CancelCauseFunc
	ownCancel bool
	umu       sync.Mutex
	upstream  net.Conn
	cancelled bool
	// body reads the client's request body (when it has one) and keeps
	// the first error doing so (clientbody.go); clientFault is set once
	// the router answered that error itself (clientError).
	body        clientBody
	clientFault bool
	// direct is the client-side fast path's writer of a request it
	// proxies without ReverseProxy: 1xx interim responses go to it.
	direct *directWriter
}

// cancelRequest cancels the request's context with cause and ends a
// blocked read or write of the fast path's exchange (watchUpstream).
func (ri *requestInfo) cancelRequest(cause error) {
	ri.cancelCtx(cause)
	ri.umu.Lock()
	ri.cancelled = true
	c := ri.upstream
	ri.umu.Unlock()
	if c != nil {
		c.SetDeadline(time.Unix(1, 0))
	}
}

// watchUpstream makes a cancellation end the exchange on c until
// unwatchUpstream; c's deadline is set at once when the request was
// cancelled already.
func (ri *requestInfo) watchUpstream(c net.Conn) {
	ri.umu.Lock()
	ri.upstream = c
	cancelled := ri.cancelled
	ri.umu.Unlock()
	if cancelled {
		c.SetDeadline(time.Unix(1, 0))
	}
}

// unwatchUpstream ends watchUpstream; false when the request was
// cancelled while watched (c's deadline may be set: it cannot be reused),
// as the stop function of context.AfterFunc says.
func (ri *requestInfo) unwatchUpstream() bool {
	ri.umu.Lock()
	defer ri.umu.Unlock()
	watched := ri.upstream != nil
	ri.upstream = nil
	return watched && !ri.cancelled
}

// infoKey is the context key of *requestInfo.
type infoKey struct{}

// Value answers infoKey with the info itself.
func (ri *requestInfo) Value(key any) any {
	if key == (infoKey{}) {
		return ri
	}
	return ri.Context.Value(key)
}

// infoOf returns the request's info, or nil.
func infoOf(ctx context.Context) *requestInfo {
	ri, _ := ctx.Value(infoKey{}).(*requestInfo)
	return ri
}

// measure counts an answer with status code on slot s's meters for the
// request (none for a preview request).
func measure(ctx context.Context, s *slotState, code int) {
	var d time.Duration
	ri := infoOf(ctx)
	if ri != nil {
		d = time.Since(ri.start)
	}
	s.metersFor(ri).record(code, d)
}

// serve proxies req, sent by k, to slot s, registered on epoch ep so that
// a drain or CancelAll can cancel it; to instance b when it is not nil (a
// pinned MCP session), else to an instance the slot's transport picks.
func (r *Router) serve(w http.ResponseWriter, req *http.Request, s *slotState, ep *epoch, pin bool, b *backend, k kind) {
	s.inflight.Add(1)
	ctx, cancelCtx := context.WithCancelCause(req.Context())
	ri := &requestInfo{Context: ctx, start: time.Now(), pin: pin, secure: req.TLS != nil, backend: b, kind: k, ep: ep, cancelCtx: cancelCtx, ownCancel: req.Context().Done() == nil}
	ri.cancel = ri.cancelRequest
	reg := ep.register(ri.cancel)
	ri.reg = reg
	defer func() {
		// Also runs when ReverseProxy aborts the handler with
		// http.ErrAbortHandler.
		ep.unregister(reg)
		ri.cancel(nil)
		if !ri.clientFault {
			s.metrics.duration.Observe(time.Since(ri.start).Seconds())
		}
		s.inflight.Add(-1)
	}()
	if isWebSocketUpgrade(req) {
		w = r.newWebSocket(w, s, ri)
	}
	out, ok := r.outbound(w, req, s, ri)
	if !ok {
		return
	}
	if b != nil {
		s.pinnedProxy.ServeHTTP(w, out)
		return
	}
	if dw, ok := w.(*directWriter); ok && dw.bypass && ri.ws == nil {
		r.proxyDirect(dw, out, s) // fastproxy.go
		return
	}
	s.proxy.ServeHTTP(w, out)
}

// outbound returns req as the slot's proxy takes it: with ri as its
// context, its body limited to Options.MaxRequestBody (not a synthetic
// one's) and read through ri.body, and the MCP call and filter bits of ri
// set. When the body is over the limit by its Content-Length, or the MCP
// read ahead found it broken, it answers the client error itself (no
// instance is involved) and returns false.
func (r *Router) outbound(w http.ResponseWriter, req *http.Request, s *slotState, ri *requestInfo) (*http.Request, bool) {
	out := req.WithContext(ri)
	if r.maxBody > 0 && ri.kind != kindSynthetic {
		if out.ContentLength > r.maxBody {
			r.clientError(w, out, s, &http.MaxBytesError{Limit: r.maxBody})
			return nil, false
		}
		limitBody(out, r.maxBody)
	}
	wrapBody(out, ri)
	if r.readsMCP(ri.kind) {
		ri.call, out.Body = readMCPRequest(out)
		if err := ri.body.failed(); err != nil {
			r.clientError(w, out, s, err)
			return nil, false
		}
	}
	if ri.kind != kindPreview && len(r.filters) > 0 {
		ri.match = r.matchFilters(req.URL.Path, ri.call)
	}
	return out, true
}

// rewrite prepares the outbound request; the slot's transport fills in the
// instance address. The Host header is kept as the client sent it;
// X-Forwarded-For/Host/Proto are set by setForwarded: the client's values
// are honoured from a trusted proxy only (Options.TrustedProxies).
func (r *Router) rewrite(pr *httputil.ProxyRequest) {
	r.setForwarded(pr)
	pr.Out.URL.Scheme = "http"
	// Forward the query exactly as received (ReverseProxy drops parameters
	// it cannot parse).
	pr.Out.URL.RawQuery = pr.In.URL.RawQuery
	r.preview.strip(pr.Out.Header)
	if r.sticky != nil {
		r.sticky.strip(pr.Out.Header)
	}
	markSynthetic(pr)
}

// modifyResponse names the slot in the response, pins the client when a
// weighted split chose its slot, and counts the answer. Headers are set
// here rather than before proxying because ReverseProxy clears the
// response headers after relaying a 1xx response.
func (r *Router) modifyResponse(s *slotState) func(*http.Response) error {
	return func(resp *http.Response) error {
		resp.Header[HeaderSlot] = s.slotHeader
		if resp.Request != nil {
			ctx := resp.Request.Context()
			measure(ctx, s, resp.StatusCode)
			ri := infoOf(ctx)
			for _, hook := range r.onResponse {
				hook(s, resp, ri)
			}
			if synthetic(ctx) {
				return nil // not in the user request metrics
			}
		}
		s.metrics.code(resp.StatusCode).Inc()
		return nil
	}
}

// responseHook is one thing the router does with an instance's response
// of a request (ri nil for one the router did not register).
type responseHook func(s *slotState, resp *http.Response, ri *requestInfo)

// responseHooks lists, in order, what New's options ask the router to do
// with every response besides naming the slot and counting it; built once,
// so the request path runs only what is on.
func (r *Router) responseHooks() []responseHook {
	var hooks []responseHook
	if r.sticky != nil {
		hooks = append(hooks, r.pinSticky)
	}
	if r.sessions != nil {
		hooks = append(hooks, r.trackSession) // before observeMCP, which may wrap the body
	}
	if r.mcpErrors || r.mcpMetrics != nil {
		hooks = append(hooks, r.observeMCP)
	}
	return append(hooks, r.trackStream)
}

// pinSticky sets the sticky cookie when a weighted split chose the slot.
func (r *Router) pinSticky(s *slotState, resp *http.Response, ri *requestInfo) {
	if ri != nil && ri.pin {
		r.sticky.pin(resp.Header, s.slot.Index(), ri.secure)
	}
}

// errorHandler answers when no backend response could be had: 503 with a
// clear body when the slot has no healthy instance or the router cancelled
// the request, 502 otherwise.
func (r *Router) errorHandler(s *slotState) func(http.ResponseWriter, *http.Request, error) {
	return func(w http.ResponseWriter, req *http.Request, err error) {
		var (
			code = http.StatusBadGateway
			kind = "upstream-error"
			msg  = "bluegreen: upstream error in slot " + string(s.slot)
			nh   *noHealthyError
		)
		switch {
		case errors.As(err, &nh):
			code, kind, msg = http.StatusServiceUnavailable, "no-healthy-instance", nh.Error()
			r.log.Debug("no healthy instance", keySlot, s.slot, "healthy", nh.healthy, "total", nh.total)
		case bodyError(infoOf(req.Context())) != nil:
			// The client broke its body while it was sent to the
			// instance: its fault, counted apart (clientbody.go).
			r.clientError(w, req, s, bodyError(infoOf(req.Context())))
			return
		case cancelledByRouter(req.Context()):
			cause := context.Cause(req.Context())
			code, kind, msg = http.StatusServiceUnavailable, "cancelled", "bluegreen: request cancelled: "+cause.Error()
			r.log.Info("request cancelled by the router", keySlot, s.slot, keyCause, cause.Error())
		case req.Context().Err() == nil && isHeaderTimeout(err):
			// routing.response_header_timeout: the instance took the
			// request and sent no response head in time.
			code, kind, msg = http.StatusGatewayTimeout, "timeout", "bluegreen: an instance of slot "+string(s.slot)+" sent no response headers in time (routing.response_header_timeout)"
			r.log.Warn("instance sent no response headers in time", keySlot, s.slot, keyError, err)
		case synthetic(req.Context()) && errors.Is(req.Context().Err(), context.DeadlineExceeded):
			// Analysis' own timeout: the instance was too slow, which
			// is an error of the slot, not a client that left.
			code, kind, msg = http.StatusGatewayTimeout, "timeout", "bluegreen: synthetic request timed out in slot "+string(s.slot)
			r.log.Debug("synthetic request timed out", keySlot, s.slot, keyError, err)
		case req.Context().Err() != nil:
			code, kind, msg = statusClientClosed, "client-closed", "bluegreen: client closed the request"
			r.log.Debug("client closed the request", keySlot, s.slot, keyError, err)
		default:
			r.log.Warn("proxy request failed", keySlot, s.slot, keyError, err)
		}
		r.countMCPFailure(s, infoOf(req.Context()))
		h := w.Header()
		h[HeaderSlot] = s.slotHeader
		h.Set(HeaderError, kind)
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(code)
		if _, werr := io.WriteString(w, msg+"\n"); werr != nil {
			r.log.Debug("write error response", keySlot, s.slot, keyError, werr)
		}
		if !synthetic(req.Context()) {
			s.metrics.code(code).Inc()
		}
		measure(req.Context(), s, code)
	}
}

// copyBufferSize is the size of the buffers ReverseProxy copies bodies
// through.
const copyBufferSize = 32 << 10

// bufferPool recycles copy buffers. It stores array pointers so Put does
// not allocate.
type bufferPool struct{ p sync.Pool }

var _ httputil.BufferPool = (*bufferPool)(nil)

func (b *bufferPool) Get() []byte {
	if a, ok := b.p.Get().(*[copyBufferSize]byte); ok {
		return a[:]
	}
	return new([copyBufferSize]byte)[:]
}

func (b *bufferPool) Put(buf []byte) {
	if len(buf) != copyBufferSize {
		return
	}
	b.p.Put((*[copyBufferSize]byte)(buf))
}
