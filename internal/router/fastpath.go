package router

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The fast path (issue 17) does the exchange with an instance on the
// handler's goroutine: it writes the request head and body in one write
// over a pooled connection it owns, and reads the response head and body
// from it on the same goroutine, with no read and write loops per
// connection and no hand-offs between goroutines. ReverseProxy still does
// everything else (rewrite, hop-by-hop headers, response hooks, copying to
// the client, errors), so the router's behaviour is the same on both paths.
//
// The choice is made per request (fastEligible): a plain HTTP/1.x request
// with a body of known length or none and no upgrade, Expect or trailers
// takes the fast path; anything else goes to http.Transport as before.

// fastTransport is the slot transports' base when New is given no
// Transport: fast path for the eligible requests, slow for the others.
type fastTransport struct {
	slow   http.RoundTripper
	dialer net.Dialer
	// headerTimeout bounds the wait for a response head (0: none).
	headerTimeout time.Duration

	mu   sync.Mutex
	idle map[string][]*fastConn // by address, most recently used last

	fast, slowCount atomic.Int64
}

var _ http.RoundTripper = (*fastTransport)(nil)

// newFastTransport returns the fast path in front of slow; headerTimeout
// (0: none) bounds the wait for a response head on both.
func newFastTransport(slow *http.Transport, headerTimeout time.Duration) *fastTransport {
	slow.ResponseHeaderTimeout = headerTimeout
	return &fastTransport{
		slow:          slow,
		dialer:        net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second},
		headerTimeout: headerTimeout,
		idle:          make(map[string][]*fastConn),
	}
}

// fastConn is one pooled connection to an instance.
type fastConn struct {
	t    *fastTransport
	addr string
	c    net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	used time.Duration // monoNow() when it was last put back idle
	rd   readDeadline
	// sink is what bw writes to (exchangeWriter).
	sink exchangeWriter
}

// newFastConn makes the fastConn of a connection dialed to addr.
func (t *fastTransport) newFastConn(addr string, c net.Conn) *fastConn {
	fc := &fastConn{t: t, addr: addr, c: c, br: bufio.NewReaderSize(newRawReader(c), 16<<10)}
	fc.sink.init(c)
	fc.bw = bufio.NewWriterSize(&fc.sink, 16<<10)
	return fc
}

// init sets w up to write to c.
func (w *exchangeWriter) init(c net.Conn) {
	*w = exchangeWriter{rawWriter: rawWriter{c: c, rc: rawConnOf(c)}}
	w.fn = w.write
	w.waitFn = w.writeThenWait
}

// exchangeWriter writes a request to the instance. Its last write (await
// set) is done inside a wait for the connection to become readable, so
// that the response is read when it is there: a read right after the write
// would find nothing yet, fail with EAGAIN and wait anyway, a system call
// and a trip through Go's poller for nothing (seen for half the requests).
// The wait is armed before the write, so a response however quick is not
// missed.
// The other writes are rawWriter's (its p, n and err also hold the
// waiting write in progress).
type exchangeWriter struct {
	rawWriter
	await  bool
	waitFn func(uintptr) bool // writeThenWait, bound once
}

func (w *exchangeWriter) Write(p []byte) (int, error) {
	if !w.await || w.rc == nil {
		return w.rawWriter.Write(p)
	}
	w.await = false
	w.p, w.n, w.err = p, 0, nil
	// An error here is the wait's (the response-header deadline, a
	// cancellation), or the deadline past before anything was written:
	// the write below, or the read that follows, reports it.
	_ = w.rc.Read(w.waitFn)
	n, err := w.n, w.err
	w.p, w.err = nil, nil
	if err != nil {
		return n, err
	}
	if n < len(p) {
		// The socket took part of it (its buffer is full), or none:
		// the rest as any write.
		m, err := w.rawWriter.Write(p[n:])
		return n + m, err
	}
	return n, nil
}

// writeThenWait is the RawConn read callback: the first call writes w.p
// and asks to wait for readability (false); the next says the connection
// is readable. A write the socket cannot take whole now ends the wait at
// once (Write sends the rest).
func (w *exchangeWriter) writeThenWait(fd uintptr) bool {
	if w.p == nil {
		return true
	}
	errno := writeSome(fd, w.p, &w.n)
	w.p = nil
	switch errno {
	case 0:
		return false
	case syscall.EAGAIN:
	default:
		w.err = sockError("write", w.c, os.NewSyscallError("write", errno))
	}
	return true
}

// fastEligible reports whether req can take the fast path.
func fastEligible(req *http.Request) bool {
	if req.ProtoMajor != 1 || req.Method == http.MethodConnect || req.URL.Scheme != "http" {
		return false
	}
	if req.ContentLength < 0 || (req.ContentLength == 0 && req.Body != nil && req.Body != http.NoBody) {
		// Unknown length: chunked toward the instance, which
		// http.Transport does.
		return false
	}
	if len(req.TransferEncoding) > 0 || len(req.Trailer) > 0 {
		return false
	}
	h := req.Header
	if _, ok := h["Upgrade"]; ok {
		return false
	}
	if _, ok := h["Expect"]; ok {
		return false
	}
	return true
}

// RoundTrip sends req on the fast path when it is eligible.
func (t *fastTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !fastEligible(req) {
		t.slowCount.Add(1)
		return t.slow.RoundTrip(req)
	}
	t.fast.Add(1)
	addr := req.URL.Host
	if !strings.Contains(addr, ":") {
		addr += ":80"
	}
	for attempt := 0; ; attempt++ {
		fc, reused, err := t.get(req.Context(), addr, attempt == 0)
		if err != nil {
			closeReqBody(req)
			return nil, err
		}
		resp, retry, err := fc.roundTrip(req, reused)
		if err == nil {
			return resp, nil
		}
		fc.c.Close()
		if !retry {
			closeReqBody(req)
			return nil, err
		}
		// The keep-alive race: the instance closed the idle connection
		// as the request was written. Send it again on a new one (not
		// another pooled one, which may be as stale).
	}
}

func closeReqBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// get returns an idle connection to addr (when pooled is set), or dials
// one.
func (t *fastTransport) get(ctx context.Context, addr string, pooled bool) (*fastConn, bool, error) {
	now := monoNow()
	t.mu.Lock()
	for l := t.idle[addr]; pooled && len(l) > 0; l = t.idle[addr] {
		fc := l[len(l)-1]
		l[len(l)-1] = nil
		t.idle[addr] = l[:len(l)-1]
		if now-fc.used < idleConnTimeout {
			t.mu.Unlock()
			return fc, true, nil
		}
		fc.c.Close()
	}
	t.mu.Unlock()
	c, err := t.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, false, err
	}
	return t.newFastConn(addr, c), false, nil
}

// put returns fc to the idle pool, or closes it when the pool is full.
func (t *fastTransport) put(fc *fastConn) {
	fc.used = monoNow()
	t.mu.Lock()
	l := t.idle[fc.addr]
	if len(l) >= maxIdleConnsPerHost {
		t.mu.Unlock()
		fc.c.Close()
		return
	}
	t.idle[fc.addr] = append(l, fc)
	t.mu.Unlock()
}

// CloseIdleConnections closes the pooled connections of both paths.
func (t *fastTransport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = make(map[string][]*fastConn)
	t.mu.Unlock()
	for _, l := range idle {
		for _, fc := range l {
			fc.c.Close()
		}
	}
	if c, ok := t.slow.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// reqWritten reports whether k is one of the headers written apart from
// req.Header, as net/http's request writer does.
func reqWritten(k string) bool {
	switch k {
	case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
		return true
	}
	return false
}

// replayable reports whether req may be sent again on a new connection
// after a stale pooled one failed before any response byte, with the
// rule http.Transport uses.
func replayable(req *http.Request) bool {
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

// roundTrip does one exchange on fc. retry says the caller may send the
// request again on a new connection: fc was a reused one that failed
// before a byte of response arrived, and req is replayable (its body, if
// any, is taken again through GetBody).
func (fc *fastConn) roundTrip(req *http.Request, reused bool) (*http.Response, bool, error) {
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	// The router's cancellation (drain, CancelAll) and the client leaving
	// end the blocked read or write: the deadline wakes it.
	w := watchExchange(ctx, fc.c)
	fail := func(err error, beforeResponse bool) (*http.Response, bool, error) {
		w.stop()
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		retry := reused && beforeResponse && replayable(req)
		if retry && req.Body != nil && req.Body != http.NoBody {
			body, berr := req.GetBody()
			if berr != nil {
				return nil, false, err
			}
			req.Body = body
		}
		return nil, retry, err
	}
	if err := fc.writeRequest(req); err != nil {
		return fail(err, true)
	}
	resp, err := fc.readResponse(req)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil && fc.t.headerTimeout > 0 {
			w.stop()
			return nil, false, &headerTimeoutError{d: fc.t.headerTimeout}
		}
		return fail(err, !errors.Is(err, errPartialHead))
	}
	fb := resp.Body.(*fastBody)
	if fc.t.headerTimeout > 0 && !fb.buffered() {
		// The body is read without the head's deadline. One already in
		// the buffer reads nothing more from the connection, and the next
		// exchange on it sets its own deadline before it reads: no call.
		fc.rd.set(fc.c, 0)
	}
	fb.watch = w
	return resp, false, nil
}

// upstreamWatch ends a blocked read or write on the instance's connection
// when the request's context is cancelled (drain, CancelAll, the client
// leaving), until stop: through the router's request info when only the
// router can cancel that context (requestInfo.ownCancel: no allocation),
// else through context.AfterFunc.
type upstreamWatch struct {
	ri    *requestInfo
	after func() bool
}

func watchExchange(ctx context.Context, c net.Conn) upstreamWatch {
	if ri, ok := ctx.(*requestInfo); ok && ri.ownCancel {
		ri.watchUpstream(c)
		return upstreamWatch{ri: ri}
	}
	return upstreamWatch{after: context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })}
}

// stop ends the watch; false when the cancellation came first (the
// connection's deadline may be set), true otherwise, as AfterFunc's stop.
// A zero watch stops as one that never fired.
func (w upstreamWatch) stop() bool {
	switch {
	case w.ri != nil:
		return w.ri.unwatchUpstream()
	case w.after != nil:
		return w.after()
	}
	return true
}

// headerTimeoutError is the instance not sending a response head within
// the response-header timeout.
type headerTimeoutError struct{ d time.Duration }

func (e *headerTimeoutError) Error() string {
	return "timeout awaiting response headers after " + e.d.String()
}

func (e *headerTimeoutError) Timeout() bool { return true }

// isHeaderTimeout reports whether err is a response-header timeout of
// either path (http.Transport says "timeout awaiting response headers").
func isHeaderTimeout(err error) bool {
	var ht *headerTimeoutError
	if errors.As(err, &ht) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() && strings.Contains(err.Error(), "awaiting response headers")
}

// errPartialHead is a connection that ended inside a response head (some
// bytes came, so the request reached the instance: no retry).
var errPartialHead = errors.New("connection closed inside the response head")

// writeRequest writes the request head and body and flushes once, as
// net/http's request writer would lay them out.
func (fc *fastConn) writeRequest(req *http.Request) error {
	bw := fc.bw
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	bw.WriteString(req.Method)
	bw.WriteByte(' ')
	bw.WriteString(req.URL.RequestURI())
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(host)
	bw.WriteString("\r\n")
	ua := "Go-http-client/1.1"
	if v, ok := req.Header["User-Agent"]; ok {
		ua = ""
		if len(v) > 0 {
			ua = v[0]
		}
	}
	if ua != "" {
		bw.WriteString("User-Agent: ")
		bw.WriteString(cleanHeaderValue(ua))
		bw.WriteString("\r\n")
	}
	if req.ContentLength > 0 || (req.ContentLength == 0 && (req.Method == http.MethodPost || req.Method == http.MethodPut || req.Method == http.MethodPatch)) {
		bw.WriteString("Content-Length: ")
		bw.WriteString(strconv.FormatInt(req.ContentLength, 10))
		bw.WriteString("\r\n")
	}
	if req.Close {
		if _, ok := req.Header["Connection"]; !ok {
			bw.WriteString("Connection: close\r\n")
		}
	}
	if err := writeHeaders(bw, req.Header, reqWritten); err != nil {
		return err
	}
	bw.WriteString("\r\n")
	if req.ContentLength > 0 && req.Body != nil {
		n, err := io.Copy(bw, io.LimitReader(req.Body, req.ContentLength))
		if err != nil {
			return err
		}
		if n != req.ContentLength {
			return fmt.Errorf("http: ContentLength=%d with Body length %d", req.ContentLength, n)
		}
	}
	// The last write waits for the response (exchangeWriter), under the
	// response-header timeout from now; not when bytes the instance sent
	// are buffered already (the head may be among them).
	if d := fc.t.headerTimeout; d > 0 {
		fc.rd.set(fc.c, d)
	}
	fc.sink.await = fc.br.Buffered() == 0
	err := bw.Flush()
	fc.sink.await = false
	return err
}

// readResponse reads the response head and sets up its body reader.
func (fc *fastConn) readResponse(req *http.Request) (*http.Response, error) {
	for {
		head, err := fc.readHead(respHeaderMap(req))
		if err != nil {
			return nil, err
		}
		code := head.status
		if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
			// An interim response: relayed to the client through
			// ReverseProxy's trace, as http.Transport does.
			if ri := infoOf(req.Context()); ri != nil && ri.direct != nil {
				ri.direct.interim(code, head.header)
			} else if trace := httptrace.ContextClientTrace(req.Context()); trace != nil && trace.Got1xxResponse != nil {
				if err := trace.Got1xxResponse(code, textprotoHeader(head.header)); err != nil {
					return nil, err
				}
			}
			continue
		}
		if code == http.StatusSwitchingProtocols {
			return nil, errors.New("101 Switching Protocols to a request without Upgrade")
		}
		return fc.response(req, head)
	}
}

// protoNames are the response's Proto by minor version (0 or 1).
var protoNames = [2]string{"HTTP/1.0", "HTTP/1.1"}

// statusLines are "200 OK" and the like for the codes net/http names,
// made once: a response's Status costs no allocation.
var statusLines = func() map[int]string {
	m := make(map[int]string)
	for code := 100; code < 600; code++ {
		if t := http.StatusText(code); t != "" {
			m[code] = strconv.Itoa(code) + " " + t
		}
	}
	return m
}()

// statusLine is the Status of a response with code, as http.Transport
// sets it.
func statusLine(code int) string {
	if s, ok := statusLines[code]; ok {
		return s
	}
	return strconv.Itoa(code) + " " + http.StatusText(code)
}

func textprotoHeader(h http.Header) map[string][]string { return h }

// readHead reads one response head from the connection.
// into, when not nil, is the map the header goes into (parseResponseHead).
func (fc *fastConn) readHead(into http.Header) (responseHead, error) {
	for n := fc.br.Buffered(); ; {
		if n == 0 {
			n = 1
		}
		buf, perr := fc.br.Peek(n)
		if len(buf) > 0 {
			head, used, err := parseResponseHead(buf, into)
			if err == nil {
				fc.br.Discard(used)
				return head, nil
			}
			if err != errHeadIncomplete {
				return head, err
			}
		}
		if perr != nil {
			if errors.Is(perr, bufio.ErrBufferFull) {
				return responseHead{}, errors.New("response head over 16 KiB")
			}
			if len(buf) > 0 && errors.Is(perr, io.EOF) {
				return responseHead{}, errPartialHead
			}
			return responseHead{}, perr
		}
		n = len(buf) + 1
		if b := fc.br.Buffered(); b > n {
			n = b
		}
	}
}

// response makes the *http.Response for head, framing its body as
// http.Transport does (RFC 9112 §6.3).
func (fc *fastConn) response(req *http.Request, head responseHead) (*http.Response, error) {
	h := head.header
	// The response and its body reader in one allocation.
	rb := &struct {
		resp http.Response
		body fastBody
	}{}
	resp := &rb.resp
	*resp = http.Response{
		Status:     statusLine(head.status),
		StatusCode: head.status,
		Proto:      protoNames[head.minor&1],
		ProtoMajor: 1,
		ProtoMinor: head.minor,
		Header:     h,
		Request:    req,
	}
	resp.Close = req.Close || headerHasToken(h["Connection"], "close") || (head.minor == 0 && !headerHasToken(h["Connection"], "keep-alive"))
	chunked := false
	if te, ok := h["Transfer-Encoding"]; ok {
		if len(te) != 1 || !strings.EqualFold(strings.TrimSpace(te[0]), "chunked") || head.minor == 0 {
			return nil, fmt.Errorf("unsupported Transfer-Encoding %q", te)
		}
		chunked = true
		delete(h, "Transfer-Encoding")
		delete(h, "Content-Length")
		resp.TransferEncoding = []string{"chunked"}
	}
	length := int64(-1)
	if cl, ok := h["Content-Length"]; ok && !chunked {
		v := strings.TrimSpace(cl[0])
		for _, o := range cl[1:] {
			if strings.TrimSpace(o) != v {
				return nil, errors.New("message cannot contain multiple Content-Length headers")
			}
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || v == "" || v[0] == '+' {
			return nil, fmt.Errorf("bad Content-Length %q", v)
		}
		if len(cl) > 1 {
			h["Content-Length"] = cl[:1]
		}
		length = n
	}
	if tr, ok := h["Trailer"]; ok && chunked {
		resp.Trailer = make(http.Header)
		for _, v := range tr {
			for _, k := range strings.Split(v, ",") {
				if k = http.CanonicalHeaderKey(strings.TrimSpace(k)); k != "" {
					resp.Trailer[k] = nil
				}
			}
		}
		delete(h, "Trailer")
	}
	resp.ContentLength = length
	fb := &rb.body
	fb.fc, fb.resp = fc, resp
	resp.Body = fb
	noBody := req.Method == http.MethodHead || head.status == http.StatusNoContent || head.status == http.StatusNotModified
	switch {
	case noBody:
		if req.Method != http.MethodHead {
			resp.ContentLength = 0
		}
		fb.r = eofReader{}
		if length < 0 && req.Method == http.MethodHead {
			resp.ContentLength = -1
		}
	case chunked:
		resp.ContentLength = -1
		fb.r = httputil.NewChunkedReader(fc.br)
		fb.chunked = true
	case length >= 0:
		fb.lr = io.LimitedReader{R: fc.br, N: length}
		fb.r = &fb.lr
		if length == 0 {
			fb.r = eofReader{}
		}
	default:
		// Until the instance closes the connection.
		resp.Close = true
		fb.r = fc.br
		fb.toClose = true
	}
	return resp, nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// fastBody is a fast-path response body. At a clean end the connection
// goes back to the pool (unless the response closes it); a close before
// the end, or an error, closes the connection.
type fastBody struct {
	fc      *fastConn
	resp    *http.Response
	r       io.Reader
	lr      io.LimitedReader
	chunked bool
	toClose bool
	watch   upstreamWatch
	mu      sync.Mutex
	eof     bool
	err     error
	done    bool
}

// buffered reports whether the whole body is in the connection's read
// buffer already (or there is none).
func (b *fastBody) buffered() bool {
	switch {
	case b.r == eofReader{}:
		return true
	case b.r == &b.lr:
		return b.lr.N <= int64(b.fc.br.Buffered())
	}
	return false
}

func (b *fastBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return 0, errors.New("http: read on closed response body")
	}
	if b.eof {
		return 0, io.EOF
	}
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.r.Read(p)
	if err == io.EOF {
		if b.lr.R != nil && b.lr.N > 0 {
			err = io.ErrUnexpectedEOF
		} else if b.chunked {
			if terr := b.readTrailer(); terr != nil {
				err = terr
			}
		}
	}
	if err == nil && b.lr.R != nil && b.lr.N == 0 {
		err = io.EOF // the whole body: say so now, as http.Transport does
	}
	if err == io.EOF {
		if b.toClose {
			b.eof = true
			return n, err
		}
		b.eof = true
	} else if err != nil {
		b.err = err
	}
	return n, err
}

// readTrailer reads the trailer section after the last chunk into the
// response's Trailer.
func (b *fastBody) readTrailer() error {
	br := b.fc.br
	total := 0
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		total += len(line)
		if total > maxResponseHead {
			return errors.New("response trailer too large")
		}
		l := strings.TrimRight(string(line), "\r\n")
		if l == "" {
			return nil
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			return errors.New("malformed trailer line")
		}
		if b.resp.Trailer == nil {
			b.resp.Trailer = make(http.Header)
		}
		k = http.CanonicalHeaderKey(strings.TrimSpace(k))
		b.resp.Trailer[k] = append(b.resp.Trailer[k], strings.Trim(v, " \t"))
	}
}

func (b *fastBody) Close() error {
	b.mu.Lock()
	if b.done {
		b.mu.Unlock()
		return nil
	}
	b.done = true
	clean := b.eof && !b.toClose && !b.resp.Close
	b.mu.Unlock()
	fired := !b.watch.stop()
	if clean && !fired && b.fc.br.Buffered() == 0 {
		b.fc.t.put(b.fc)
		return nil
	}
	return b.fc.c.Close()
}

// fastpathCollectors count the requests sent to instances by each path
// (none when New was given its own Transport).
func fastpathCollectors(r *Router) []prometheus.Collector {
	cs := []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "bluegreen_fastpath_direct_requests_total",
			Help: "Client requests the production or preview listener served on the client-side fast path (its own HTTP/1.1 parsing and response writing, no net/http server)."},
			func() float64 { return float64(r.direct.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "bluegreen_fastpath_handoffs_total",
			Help: "Client connections the fast path handed to net/http's server (HTTP/1.0, HTTP/2, upgrades, Expect, chunked request bodies, unusual or malformed requests); net/http serves them from then on."},
			func() float64 { return float64(r.handoffs.Load()) }),
	}
	ft := r.fast
	if ft == nil {
		return cs
	}
	const help = "Requests sent to instances, by path: fast (the router's own HTTP/1.1 exchange) or general (http.Transport: upgrades, chunked or 100-continue request bodies, HTTP/2 clients); retries count again."
	return append(cs,
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "bluegreen_fastpath_requests_total", Help: help, ConstLabels: prometheus.Labels{"path": "fast"}},
			func() float64 { return float64(ft.fast.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "bluegreen_fastpath_requests_total", Help: help, ConstLabels: prometheus.Labels{"path": "general"}},
			func() float64 { return float64(ft.slowCount.Load()) }),
	)
}
