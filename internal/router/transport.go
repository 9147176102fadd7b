package router

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// Transport tuning for the shared backend transport.
const (
	dialTimeout         = 5 * time.Second
	maxIdleConnsPerHost = 1024
	idleConnTimeout     = 90 * time.Second
)

// newTransport returns the shared transport to instances: plain HTTP/1.1,
// many idle connections per instance (a proxy multiplexes many clients onto
// few instances), no proxy from the environment and no transparent
// compression (bodies pass through untouched).
func newTransport() *http.Transport {
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext:           d.DialContext,
		MaxIdleConnsPerHost:   maxIdleConnsPerHost,
		IdleConnTimeout:       idleConnTimeout,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		ReadBufferSize:        16 << 10,
		WriteBufferSize:       16 << 10,
	}
}

// newHealthClient returns the client for active checks: a fresh connection
// per probe, so a probe sees what a new connection would.
func newHealthClient() *http.Client {
	d := &net.Dialer{Timeout: dialTimeout}
	return &http.Client{Transport: &http.Transport{
		DialContext:        d.DialContext,
		DisableKeepAlives:  true,
		DisableCompression: true,
	}}
}

// slotTransport sends a request to one instance of its slot, chosen
// round-robin among the healthy ones, and retries an idempotent request
// once on another instance when the attempt fails before response headers.
type slotTransport struct {
	r    *Router
	s    *slotState
	base http.RoundTripper
}

var _ http.RoundTripper = (*slotTransport)(nil)

func (t *slotTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	p := &t.s.pool
	b := p.pick()
	if b == nil {
		return nil, p.noHealthy()
	}
	resp, err := t.attempt(req, b)
	if err == nil || !retryable(req) || clientFault(req) {
		return resp, err
	}
	next := p.pickOther(b)
	if next == nil {
		return nil, err
	}
	retry := req.Clone(req.Context())
	if req.Body != nil && req.Body != http.NoBody {
		body, berr := req.GetBody()
		if berr != nil {
			return nil, err
		}
		retry.Body = body
	}
	t.s.retries.Add(1)
	t.r.log.Debug("retrying on another instance", keySlot, t.s.slot,
		"from", b.addr, "to", next.addr, keyError, err)
	return t.attempt(retry, next)
}

// attempt sends req to b, counting it in flight until the response body is
// closed and feeding the outcome to b's passive health counter: a failure
// counts against b only when it is b's (not clientFault).
func (t *slotTransport) attempt(req *http.Request, b *backend) (*http.Response, error) {
	req.URL.Host = b.addr
	b.inflight.Add(1)
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		b.inflight.Add(-1)
		if !clientFault(req) {
			t.r.observe(b, sourcePassive, false, err)
		}
		return nil, err
	}
	if rwc, ok := resp.Body.(io.ReadWriteCloser); ok && resp.StatusCode == http.StatusSwitchingProtocols {
		t.passed(b)
		resp.Body = &backendConn{backendBody: backendBody{ReadCloser: rwc, b: b, ctx: req.Context()}, w: rwc}
	} else {
		resp.Body = &backendBody{ReadCloser: resp.Body, b: b, ctx: req.Context(), t: t, counted: resp.StatusCode >= 500}
	}
	return resp, nil
}

// passed counts a request b answered whole (its body read to the end, or
// its upgrade done) as a passive success. Only a healthy instance's failure
// count is reset by a request (a held one comes back through active
// checks): the request path takes no lock otherwise.
func (t *slotTransport) passed(b *backend) {
	if b.failures.Load() != 0 && !b.held.Load() {
		t.r.observe(b, sourcePassive, true, nil)
	}
}

// clientFault reports whether a failed round trip of req is not the
// instance's doing: the client broke the body being sent (clientBody), or
// its context ended (the client left, or the router cancelled it).
func clientFault(req *http.Request) bool {
	ctx := req.Context()
	return ctx.Err() != nil || bodyError(infoOf(ctx)) != nil
}

// retryable reports whether a failed attempt of req may be sent again: it
// must be idempotent (by method or Idempotency-Key), its body replayable,
// and nobody cancelled it.
func retryable(req *http.Request) bool {
	if req.Context().Err() != nil {
		return false
	}
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return false
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, key := req.Header["Idempotency-Key"]
	_, xkey := req.Header["X-Idempotency-Key"]
	return key || xkey
}

// backendBody counts the request in flight on its instance until closed,
// and ends a stream cleanly (io.EOF) when the router cancelled it, so that
// a drained stream gets a proper end instead of a reset.
//
// A body read to its end is a passive success of b; one the instance
// breaks off (a reset or close before its end, the client still there) is
// its failure: it counts against b's passive health and, once, as an error
// in the analysis (t is nil for a 101 response's connection, judged at its
// head).
type backendBody struct {
	io.ReadCloser
	b       *backend
	ctx     context.Context
	closed  atomic.Bool
	t       *slotTransport
	counted bool // the answer is already an error (5xx), or its break was counted
}

func (bb *backendBody) Read(p []byte) (int, error) {
	n, err := bb.ReadCloser.Read(p)
	if err == io.EOF && bb.t != nil {
		bb.t.passed(bb.b)
	} else if err != nil && err != io.EOF {
		if cancelledByRouter(bb.ctx) {
			err = io.EOF
		} else if bb.t != nil && bb.ctx.Err() == nil {
			bb.t.r.observe(bb.b, sourcePassive, false, err)
			if !bb.counted {
				bb.counted = true
				bb.t.s.metersFor(infoOf(bb.ctx)).brokenBody()
			}
		}
	}
	return n, err
}

func (bb *backendBody) Close() error {
	if bb.closed.CompareAndSwap(false, true) {
		bb.b.inflight.Add(-1)
	}
	return bb.ReadCloser.Close()
}

// backendConn is backendBody for a 101 Switching Protocols response, whose
// body is the raw connection ReverseProxy writes to.
type backendConn struct {
	backendBody
	w io.Writer
}

func (bc *backendConn) Write(p []byte) (int, error) { return bc.w.Write(p) }
