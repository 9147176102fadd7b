package router

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The client side of the fast path (issue 17): a listener that serves
// plain HTTP/1.1 client connections itself — its own request-head parsing
// with limits, its own response writer (the head and a small body in one
// write) — and calls the router's handler on the connection's goroutine
// without net/http's server. Anything it does not handle (HTTP/1.0, HTTP/2,
// upgrades, Expect, chunked or otherwise unusual request bodies, heads over
// its buffer, anything malformed) is handed with the bytes already read to
// net/http's server, which then keeps the connection: the behaviour there
// is exactly as before.

// ServeOptions configures a FastListener.
type ServeOptions struct {
	// Handler serves the requests the listener serves itself: the
	// router's Production or Preview handler.
	Handler http.Handler
	// ReadHeaderTimeout bounds the reading of a request head (from the
	// connection's start, or from the first byte of a later request);
	// IdleTimeout the wait for the next request on a kept-alive
	// connection. Zero means no limit, as for http.Server.
	ReadHeaderTimeout, IdleTimeout time.Duration
	// ConnState, when set, follows each connection's state as
	// http.Server.ConnState does (limits.max_connections relies on it);
	// the http.Server serving the handed-off connections must be given
	// ConnStateFunc's result.
	ConnState func(net.Conn, http.ConnState)
	// BaseContext is the parent of the requests' contexts (nil:
	// context.Background()).
	BaseContext context.Context
}

// FastListener serves eligible requests of the connections its inner
// listener accepts, and returns the others from Accept for an
// http.Server. Serve it with http.Server.Serve (plain HTTP only: a TLS
// listener is served by net/http alone).
type FastListener struct {
	inner net.Listener
	r     *Router
	opts  ServeOptions
	ctx   context.Context

	start   sync.Once
	handoff chan net.Conn
	// baseReq is base's request, made once.
	baseOnce sync.Once
	baseReq  *http.Request
	errc     chan error
	done     chan struct{}
	closing  atomic.Bool
	closeMu  sync.Once

	mu    sync.Mutex
	conns map[*directConn]struct{}
	wg    sync.WaitGroup
}

// FastListener wraps ln (see FastListener).
func (r *Router) FastListener(ln net.Listener, opts ServeOptions) *FastListener {
	ctx := opts.BaseContext
	if ctx == nil {
		ctx = context.Background()
	}
	return &FastListener{
		inner: ln, r: r, opts: opts, ctx: ctx,
		handoff: make(chan net.Conn),
		errc:    make(chan error, 1),
		done:    make(chan struct{}),
		conns:   make(map[*directConn]struct{}),
	}
}

// Accept returns the next connection handed to net/http.
func (fl *FastListener) Accept() (net.Conn, error) {
	fl.start.Do(func() { go fl.acceptLoop() })
	select {
	case c := <-fl.handoff:
		return c, nil
	case err := <-fl.errc:
		return nil, err
	case <-fl.done:
		return nil, net.ErrClosed
	}
}

// Addr is the inner listener's address.
func (fl *FastListener) Addr() net.Addr { return fl.inner.Addr() }

// Close stops accepting and closes the connections idle between requests;
// those serving a request close after its response (Connection: close).
func (fl *FastListener) Close() error {
	var err error
	fl.closeMu.Do(func() {
		fl.closing.Store(true)
		err = fl.inner.Close()
		close(fl.done)
		fl.mu.Lock()
		for dc := range fl.conns {
			if dc.idle.Load() {
				dc.c.SetReadDeadline(time.Unix(1, 0))
			}
		}
		fl.mu.Unlock()
	})
	return err
}

// Shutdown closes the listener and waits until the connections it serves
// have ended, or ctx is done.
func (fl *FastListener) Shutdown(ctx context.Context) error {
	fl.Close()
	wait := make(chan struct{})
	go func() { fl.wg.Wait(); close(wait) }()
	select {
	case <-wait:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// CloseConns closes every connection the listener serves itself.
func (fl *FastListener) CloseConns() {
	fl.Close()
	fl.mu.Lock()
	for dc := range fl.conns {
		dc.c.Close()
	}
	fl.mu.Unlock()
}

// ConnStateFunc returns the http.Server.ConnState for the handed-off
// connections: it reports them to ServeOptions.ConnState as the
// connections the inner listener returned.
func (fl *FastListener) ConnStateFunc() func(net.Conn, http.ConnState) {
	f := fl.opts.ConnState
	if f == nil {
		return nil
	}
	return func(c net.Conn, st http.ConnState) {
		if hc, ok := c.(*handoffConn); ok {
			c = hc.Conn
		}
		f(c, st)
	}
}

func (fl *FastListener) acceptLoop() {
	for {
		c, err := fl.inner.Accept()
		if err != nil {
			select {
			case fl.errc <- err:
			case <-fl.done:
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		dc := &directConn{fl: fl, c: c, remote: c.RemoteAddr().String()}
		fl.mu.Lock()
		if fl.closing.Load() {
			fl.mu.Unlock()
			c.Close()
			continue
		}
		fl.conns[dc] = struct{}{}
		fl.wg.Add(1)
		fl.mu.Unlock()
		go dc.serve()
	}
}

// handoffConn is a connection handed to net/http with the bytes the fast
// path already read from it.
type handoffConn struct {
	net.Conn
	pending []byte
}

func (hc *handoffConn) Read(p []byte) (int, error) {
	if len(hc.pending) > 0 {
		n := copy(p, hc.pending)
		hc.pending = hc.pending[n:]
		return n, nil
	}
	return hc.Conn.Read(p)
}

// directConn is one client connection served by the fast path.
type directConn struct {
	fl     *FastListener
	c      net.Conn
	remote string
	rc     syscall.RawConn // nil when c has none: reads wait with a buffer
	// rb holds the bytes read from the client and not yet used, in
	// rb.b[r:w]; nil while idle with nothing buffered (readInto takes one
	// from the pool only when bytes arrive).
	rb   *readBuf
	r, w int
	idle atomic.Bool
	// holding is rb != nil, for tests on other goroutines.
	holding atomic.Bool
	// readFn is dc.readInto bound once (no closure per wait); readErr
	// is its outcome.
	readFn  func(uintptr) bool
	readErr error
	// rd is the connection's read deadline (the serving goroutine's).
	rd readDeadline
	// maps are the header maps of the request being served.
	maps headerMaps
	// wr writes to the client (rawio.go).
	wr io.Writer
}

// headerMaps are the header maps of a request the client-side fast path
// serves: the request's, the outbound request's and the response's (the
// last two only when proxyDirect proxies it). They come from a pool and go
// back to it cleared when the response is finished, when proxyDirect
// proxied the request: nothing holds them then (its exchange is done on
// the serving goroutine, and http.Transport clones a request's header
// before it writes it on another). A request served otherwise
// (ReverseProxy, a handler of its own) keeps its own map: it is left to the
// collector.
type headerMaps struct {
	set     *headerMapSet
	proxied bool
}

type headerMapSet struct{ in, out, resp http.Header }

var headerMapPool = sync.Pool{New: func() any { return new(headerMapSet) }}

// maxPooledHeader is the most names a map may hold to go back to the pool:
// clear costs a map's size, and a rare large head should not make every
// request pay for it.
const maxPooledHeader = 16

// ensure returns the set, taken from the pool when there is none.
func (hm *headerMaps) ensure() *headerMapSet {
	if hm.set == nil {
		hm.set = headerMapPool.Get().(*headerMapSet)
	}
	return hm.set
}

// mapAt returns the map at m, made when there is none, emptied when it
// holds anything (release empties them; a head parsed twice without one,
// as tests do, must not see the last one's names).
func mapAt(m *http.Header) http.Header {
	if *m == nil {
		*m = make(http.Header, 8)
	} else if len(*m) > 0 {
		clear(*m)
	}
	return *m
}

// in and out are the request's and the outbound request's maps.
func (hm *headerMaps) in() http.Header  { return mapAt(&hm.ensure().in) }
func (hm *headerMaps) out() http.Header { return mapAt(&hm.ensure().out) }

// resp is the response's map when proxyDirect proxies the request, else
// nil.
func (hm *headerMaps) resp() http.Header {
	if !hm.proxied || hm.set == nil {
		return nil
	}
	return mapAt(&hm.set.resp)
}

// release ends the request: the set goes back to the pool, without the
// request's map when proxyDirect did not proxy it, and without a map that
// grew large.
func (hm *headerMaps) release() {
	s := hm.set
	if s == nil {
		return
	}
	if !hm.proxied {
		s.in = nil
	}
	for _, m := range []*http.Header{&s.in, &s.out, &s.resp} {
		if len(*m) > maxPooledHeader {
			*m = nil
		} else if *m != nil {
			clear(*m)
		}
	}
	*hm = headerMaps{}
	headerMapPool.Put(s)
}

// respHeaderMap is the map the response head to req goes into: the
// client-side fast path's pooled one when proxyDirect proxies req, else
// nil (a new map).
func respHeaderMap(req *http.Request) http.Header {
	if ri := infoOf(req.Context()); ri != nil && ri.direct != nil {
		return ri.direct.dc.maps.resp()
	}
	return nil
}

// readDeadline keeps a connection's read deadline as last set, so that a
// keep-alive connection moves it once a second at most rather than once
// per request: setting a deadline is a timer operation in Go's runtime.
type readDeadline struct {
	at time.Duration // monoNow() of the deadline; 0: none
}

// monoBase is the origin of monoNow.
var monoBase = time.Now()

// monoNow is the monotonic clock (time.Since of a time with a monotonic
// reading reads no wall clock: cheaper than time.Now).
func monoNow() time.Duration { return time.Since(monoBase) }

// set makes c's reads end at most d from now (0: no limit). A deadline
// already set that ends no later, and less than a second (a sixteenth
// of d, for d under 16s) before, is kept: the limit a client or an
// instance gets is d less that at most.
func (rd *readDeadline) set(c net.Conn, d time.Duration) {
	if d <= 0 {
		if rd.at != 0 {
			rd.at = 0
			c.SetReadDeadline(time.Time{})
		}
		return
	}
	want := monoNow() + d
	if rd.at != 0 && rd.at <= want && want-rd.at < min(d/16, time.Second) {
		return
	}
	rd.at = want
	c.SetReadDeadline(time.Now().Add(d))
}

// readBuf is a client connection's read buffer.
type readBuf struct{ b [directReadBuf]byte }

// Read buffers and pools: an idle connection holds neither.
const (
	directReadBuf  = 4 << 10
	directWriteBuf = 4 << 10
	// directPend is what the writer holds before it decides on the
	// framing, as net/http's server does (bufferBeforeChunkingSize).
	directPend = 2 << 10
)

var (
	readerPool = sync.Pool{New: func() any { return new(readBuf) }}
	writerPool = sync.Pool{New: func() any { return &directBufs{bw: bufio.NewWriterSize(nil, directWriteBuf)} }}
)

type directBufs struct {
	bw   *bufio.Writer
	pend [directPend]byte
}

// rawConner is a connection that can be waited on without a buffer.
type rawConner interface {
	SyscallConn() (syscall.RawConn, error)
}

// netConner unwraps a connection wrapper (limits.max_connections').
type netConner interface{ NetConn() net.Conn }

func rawConnOf(c net.Conn) syscall.RawConn {
	for range 4 {
		if _, ok := c.(*tls.Conn); ok {
			return nil // its bytes are not the socket's
		}
		if rc, ok := c.(rawConner); ok {
			if r, err := rc.SyscallConn(); err == nil {
				return r
			}
			return nil
		}
		nc, ok := c.(netConner)
		if !ok {
			return nil
		}
		c = nc.NetConn()
	}
	return nil
}

func (dc *directConn) state(st http.ConnState) {
	if f := dc.fl.opts.ConnState; f != nil {
		f(dc.c, st)
	}
}

// end forgets the connection; closeIt closes it too (not for a handed-off
// one).
func (dc *directConn) end(closeIt bool) {
	dc.release()
	if closeIt {
		dc.c.Close()
		dc.state(http.StateClosed)
	}
	dc.fl.mu.Lock()
	delete(dc.fl.conns, dc)
	dc.fl.mu.Unlock()
	dc.fl.wg.Done()
}

// release gives the read buffer back (its bytes are used or copied).
func (dc *directConn) release() {
	if dc.rb != nil {
		readerPool.Put(dc.rb)
		dc.rb, dc.r, dc.w = nil, 0, 0
		dc.holding.Store(false)
	}
}

// buffered is what was read and not used yet.
func (dc *directConn) buffered() []byte {
	if dc.rb == nil {
		return nil
	}
	return dc.rb.b[dc.r:dc.w]
}

// readInto is the RawConn read callback: it reads what the connection has
// into a buffer from the pool, taken only when there is something to
// read, so a connection waiting for its next request holds none.
func (dc *directConn) readInto(fd uintptr) bool {
	rb := readerPool.Get().(*readBuf)
	n, errno := rawRead(int(fd), rb.b[:])
	if errno == syscall.EAGAIN {
		readerPool.Put(rb)
		return false
	}
	if errno != 0 {
		n = 0
	}
	dc.rb, dc.r, dc.w = rb, 0, n
	dc.holding.Store(true)
	switch {
	case errno != 0:
		dc.readErr = sockError("read", dc.c, os.NewSyscallError("read", errno))
	case n == 0:
		dc.readErr = io.EOF
	default:
		dc.readErr = nil
	}
	return true
}

// fill reads more bytes from the client after those buffered.
func (dc *directConn) fill() error {
	if dc.rb == nil {
		if dc.rc != nil {
			if err := dc.rc.Read(dc.readFn); err != nil {
				return err
			}
			if dc.w > dc.r {
				return nil
			}
			err := dc.readErr
			dc.release()
			return err
		}
		dc.rb = readerPool.Get().(*readBuf)
		dc.holding.Store(true)
	}
	if dc.r > 0 {
		dc.w = copy(dc.rb.b[:], dc.rb.b[dc.r:dc.w])
		dc.r = 0
	}
	if dc.w == len(dc.rb.b) {
		return errHeadTooLarge
	}
	n, err := dc.c.Read(dc.rb.b[dc.w:])
	dc.w += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

var errHeadTooLarge = errors.New("request head over the read buffer")

// Read reads the client's bytes (a request body): the buffered ones
// first, then from the connection.
func (dc *directConn) Read(p []byte) (int, error) {
	if b := dc.buffered(); len(b) > 0 {
		n := copy(p, b)
		dc.r += n
		if dc.r == dc.w {
			dc.release()
		}
		return n, nil
	}
	return dc.c.Read(p)
}

// waitRequest waits for the first bytes of the next request, with d (0:
// no limit) as the deadline.
func (dc *directConn) waitRequest(d time.Duration) error {
	if len(dc.buffered()) > 0 {
		return nil // pipelined
	}
	dc.release()
	dc.rd.set(dc.c, d)
	if dc.idle.Load() && dc.fl.closing.Load() {
		// Close may have set its past deadline on this idle connection
		// just before the line above moved it: close now rather than at
		// the idle timeout. (Close sets closing first, so one of the two
		// sees the other.)
		return net.ErrClosed
	}
	return dc.fill()
}

func (dc *directConn) serve() {
	dc.rc = rawConnOf(dc.c)
	dc.readFn = dc.readInto
	dc.wr = dc.c
	if dc.rc != nil {
		dc.wr = newRawWriter(dc.c)
	}
	dc.state(http.StateNew)
	opts := &dc.fl.opts
	first := true
	for {
		wait := opts.IdleTimeout
		if first {
			wait = opts.ReadHeaderTimeout
		}
		if !first {
			dc.idle.Store(true)
			if dc.fl.closing.Load() {
				dc.end(true)
				return
			}
			dc.state(http.StateIdle)
		}
		err := dc.waitRequest(wait)
		dc.idle.Store(false)
		if err != nil {
			dc.end(true)
			return
		}
		// A later request's head is read under ReadHeaderTimeout from
		// when it is found not whole in the first read (readHead); one
		// that came whole needs no deadline of its own.
		headTimeout := opts.ReadHeaderTimeout
		if first {
			headTimeout = 0 // the connection's deadline covers it
		}
		first = false
		head, ok := dc.readHead(headTimeout)
		if !ok {
			dc.handOff()
			return
		}
		if head == nil {
			dc.end(true)
			return
		}
		req, ok := dc.parse(head)
		if !ok {
			dc.maps.release()
			dc.handOff()
			return
		}
		dc.r += len(head)
		if req.ContentLength != 0 {
			// The handler reads the body without the head's deadline. A
			// request without one reads nothing more until waitRequest,
			// which sets the next deadline itself: no call for it.
			dc.rd.set(dc.c, 0)
		}
		// Active once the head is read, as net/http says it: a client
		// still sending its head (slowloris) stays evictable at
		// limits.max_connections.
		dc.state(http.StateActive)
		if !dc.serveRequest(req) {
			dc.end(true)
			return
		}
	}
}

// readHead returns the buffered request head (through its blank line);
// false when it does not fit the read buffer (net/http takes it), nil and
// true when the connection ended or timed out inside it. When the head is
// not whole in what was read, the rest must come within d (0: the
// deadline set stays).
func (dc *directConn) readHead(d time.Duration) ([]byte, bool) {
	for {
		buf := dc.buffered()
		if i := bytes.Index(buf, []byte("\r\n\r\n")); i >= 0 {
			return buf[:i+4], true
		}
		if d > 0 {
			dc.rd.set(dc.c, d)
			d = 0
		}
		if err := dc.fill(); err != nil {
			if err == errHeadTooLarge {
				return nil, false // net/http reads up to its MaxHeaderBytes
			}
			return nil, true // the client left or timed out inside its head
		}
	}
}

// handOff gives the connection, with what was read of it, to net/http.
func (dc *directConn) handOff() {
	hc := &handoffConn{Conn: dc.c}
	if b := dc.buffered(); len(b) > 0 {
		hc.pending = bytes.Clone(b)
	}
	dc.c.SetReadDeadline(time.Time{})
	dc.fl.r.handoffs.Add(1)
	dc.end(false)
	select {
	case dc.fl.handoff <- hc:
	case <-dc.fl.done:
		hc.Close()
		dc.state(http.StateClosed)
	}
}

// parse reads head into a request the fast path serves, or returns false
// for one it hands to net/http.
func (dc *directConn) parse(head []byte) (*http.Request, bool) {
	line, _, _ := bytes.Cut(head[:len(head)-4], []byte("\r\n"))
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return nil, false
	}
	method := line[:sp1]
	target, proto, ok := bytes.Cut(line[sp1+1:], []byte(" "))
	if !ok || string(proto) != "HTTP/1.1" || len(target) == 0 || target[0] != '/' || !validHeaderName(string(method)) {
		return nil, false
	}
	for _, c := range target {
		if c <= ' ' || c == 0x7f {
			return nil, false
		}
	}
	m := internMethod(method)
	if m == http.MethodConnect || m == "PRI" {
		return nil, false
	}
	// One string holds the target and every header line; the names and
	// values are slices of it, and one array holds the value slices: the
	// head costs a few allocations, not two per line.
	text := string(head[sp1+1 : len(head)-4])
	rawTarget := text[:len(target)]
	text = text[len(line)-sp1-1:]
	text = strings.TrimPrefix(text, "\r\n")
	u, err := parseTarget(rawTarget)
	if err != nil {
		return nil, false
	}
	n := strings.Count(text, "\r\n") + 1
	h := dc.maps.in()
	vals := make([]string, 0, n)
	for len(text) > 0 {
		var l string
		l, text, _ = strings.Cut(text, "\r\n")
		if len(l) == 0 || l[0] == ' ' || l[0] == '\t' {
			return nil, false
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok || !validHeaderName(name) {
			return nil, false
		}
		value = strings.Trim(value, " \t")
		for i := 0; i < len(value); i++ {
			if c := value[i]; c < ' ' && c != '\t' || c == 0x7f {
				return nil, false
			}
		}
		addHeaderValue(h, http.CanonicalHeaderKey(name), value, &vals)
	}
	hosts := h["Host"]
	if len(hosts) != 1 || !validHost(hosts[0]) {
		return nil, false
	}
	delete(h, "Host")
	for _, k := range []string{"Transfer-Encoding", "Expect", "Upgrade", "Http2-Settings", "Trailer"} {
		if _, ok := h[k]; ok {
			return nil, false
		}
	}
	var length int64
	if cl, ok := h["Content-Length"]; ok {
		if len(cl) != 1 {
			return nil, false
		}
		n, err := strconv.ParseUint(cl[0], 10, 63)
		if err != nil || cl[0] == "" {
			return nil, false
		}
		length = int64(n)
	}
	// A copy of the listener's request, which holds the base context (a
	// request's context can be set only by WithContext, a second copy).
	req := new(http.Request)
	*req = *dc.fl.base()
	req.Method, req.URL, req.Header, req.Host = m, u, h, hosts[0]
	req.RemoteAddr, req.RequestURI, req.ContentLength = dc.remote, rawTarget, length
	req.Close = headerHasToken(h["Connection"], "close")
	if length > 0 {
		req.Body = &directBody{lr: io.LimitedReader{R: dc, N: length}}
	}
	return req, true
}

// base is the request the parsed ones start from: no method, URL or
// header yet, HTTP/1.1, no body, and the listener's base context.
func (fl *FastListener) base() *http.Request {
	fl.baseOnce.Do(func() {
		fl.baseReq = (&http.Request{Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Body: http.NoBody}).WithContext(fl.ctx)
	})
	return fl.baseReq
}

// parseTarget is url.ParseRequestURI for an origin-form target; a plain
// one (a path of bytes that need no escaping, and a query) is taken apart
// without the parser, to the same URL.
func parseTarget(raw string) (*url.URL, error) {
	path, query, hasQuery := strings.Cut(raw, "?")
	if len(path) == 0 || path[0] != '/' || hasQuery && query == "" || strings.IndexByte(query, '#') >= 0 {
		return url.ParseRequestURI(raw)
	}
	for i := 0; i < len(path); i++ {
		if !plainPathByte[path[i]] {
			return url.ParseRequestURI(raw)
		}
	}
	return &url.URL{Path: path, RawQuery: query}, nil
}

// plainPathByte holds the bytes a URL path keeps as they are (url's
// shouldEscape in path mode says no escape), but '%'.
var plainPathByte = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~/$&+,:;=@", byte(c)) >= 0
	}
	return t
}()

// validHost is net/http's check of a Host header's characters, in short.
func validHost(h string) bool {
	for i := 0; i < len(h); i++ {
		if c := h[i]; c <= ' ' || c >= 0x7f || strings.IndexByte("\"<>\\^`{|}", c) >= 0 {
			return false
		}
	}
	return true
}

// internMethod returns the common methods without an allocation.
func internMethod(b []byte) string {
	switch string(b) {
	case "GET":
		return http.MethodGet
	case "HEAD":
		return http.MethodHead
	case "POST":
		return http.MethodPost
	case "PUT":
		return http.MethodPut
	case "DELETE":
		return http.MethodDelete
	case "OPTIONS":
		return http.MethodOptions
	case "PATCH":
		return http.MethodPatch
	}
	return string(b)
}

// headerHasToken reports whether a list header holds token.
func headerHasToken(values []string, token string) bool {
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// directBody is a request body of known length read from the client
// connection.
type directBody struct {
	mu     sync.Mutex
	lr     io.LimitedReader
	closed bool
}

func (b *directBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	if b.lr.N <= 0 {
		return 0, io.EOF
	}
	n, err := b.lr.Read(p)
	if err == io.EOF && b.lr.N > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (b *directBody) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return nil
}

// maxPostHandlerRead is how much of an unread request body is discarded
// to keep the connection (net/http's maxPostHandlerReadBytes).
const maxPostHandlerRead = 256 << 10

// serveRequest runs the handler on req and finishes the response; false
// says the connection must close.
func (dc *directConn) serveRequest(req *http.Request) (keep bool) {
	bufs := writerPool.Get().(*directBufs)
	bufs.bw.Reset(dc.wr)
	w := &directWriter{dc: dc, req: req, bufs: bufs, cl: -1}
	if req.Method == http.MethodGet || req.Method == http.MethodHead {
		_, te := req.Header["Te"]
		w.bypass = req.ContentLength == 0 && !te
	}
	defer func() {
		bufs.bw.Reset(nil)
		writerPool.Put(bufs)
		dc.maps.release()
	}()
	dc.fl.r.direct.Add(1)
	if !dc.runHandler(w, req) {
		return false
	}
	if err := w.finish(); err != nil {
		return false
	}
	return !w.closeAfter
}

// runHandler calls the handler; false when it panicked (the connection is
// closed, as net/http does; http.ErrAbortHandler is not logged).
func (dc *directConn) runHandler(w *directWriter, req *http.Request) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				dc.fl.r.log.Error("panic serving a request", "remote", dc.remote, keyError, v)
			}
			ok = false
		}
	}()
	dc.fl.opts.Handler.ServeHTTP(w, req)
	return true
}

// directWriter is the fast path's http.ResponseWriter: it frames the
// response as net/http's server does (the same headers, Content-Length for
// a small unsized body, chunked otherwise, sniffed Content-Type, Date),
// so a client cannot tell the two apart.
type directWriter struct {
	dc          *directConn
	req         *http.Request
	bufs        *directBufs
	h           http.Header
	status      int
	wroteHeader bool
	committed   bool
	done        bool
	chunking    bool
	noBody      bool
	closeAfter  bool
	cl          int64 // declared Content-Length, -1 for none
	written     int64
	npend       int
	trailers    []string
	err         error
	// bypass says the router may proxy the request without ReverseProxy
	// (proxyDirect): GET or HEAD, no body, no Te.
	bypass bool
}

var _ http.Flusher = (*directWriter)(nil)

func (w *directWriter) Header() http.Header {
	if w.h == nil {
		w.h = make(http.Header)
	}
	return w.h
}

func (w *directWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	if code < 100 || code > 999 {
		panic("invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		// An interim response (103 Early Hints) goes out at once.
		bw := w.bufs.bw
		writeStatusLine(bw, code)
		w.Header().Write(bw)
		bw.WriteString("\r\n")
		if err := bw.Flush(); err != nil {
			w.err = err
		}
		return
	}
	w.wroteHeader = true
	w.status = code
	if v := w.Header().Get("Content-Length"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err == nil && n >= 0 {
			w.cl = n
		} else {
			w.h.Del("Content-Length")
		}
	}
}

func (w *directWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return 0, w.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.req.Method == http.MethodHead {
		return len(p), nil // counted by nobody, sent to nobody
	}
	w.written += int64(len(p))
	if w.cl >= 0 && w.written > w.cl {
		return 0, http.ErrContentLength
	}
	if !w.committed {
		if w.npend+len(p) <= directPend {
			w.npend += copy(w.bufs.pend[w.npend:], p)
			return len(p), nil
		}
		w.commit(p)
		if w.err != nil {
			return 0, w.err
		}
	}
	w.writeBody(p)
	if w.err != nil {
		return 0, w.err
	}
	return len(p), nil
}

// Flush sends what is buffered; the head first when it has not gone.
func (w *directWriter) Flush() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(nil)
	}
	if w.err == nil {
		w.err = w.bufs.bw.Flush()
	}
}

func (w *directWriter) writeBody(p []byte) {
	bw := w.bufs.bw
	if w.chunking {
		bw.WriteString(strconv.FormatInt(int64(len(p)), 16))
		bw.WriteString("\r\n")
		bw.Write(p)
		_, w.err = bw.WriteString("\r\n")
		return
	}
	_, w.err = bw.Write(p)
}

// commit writes the head (and the body bytes held so far), deciding the
// framing as net/http's chunkWriter.writeHeader does; next is the write
// that did not fit the held bytes (its start is sniffed too, as net/http
// sees it).
func (w *directWriter) commit(next []byte) {
	w.committed = true
	h := w.Header()
	pend := w.bufs.pend[:w.npend]
	isHead := w.req.Method == http.MethodHead
	code := w.status
	trailers := false
	for k := range h {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			trailers = true
		}
	}
	for _, v := range h["Trailer"] {
		trailers = true
		for _, k := range strings.Split(v, ",") {
			if k = http.CanonicalHeaderKey(strings.TrimSpace(k)); k != "" {
				switch k {
				case "Transfer-Encoding", "Trailer", "Content-Length":
				default:
					w.trailers = append(w.trailers, k)
				}
			}
		}
	}
	te := h.Get("Transfer-Encoding")
	hasTE := te != ""
	var extra [5]string // Content-Length, Content-Type, Connection, Transfer-Encoding, Date
	if w.done && !trailers && !hasTE && bodyAllowed(code) && w.cl < 0 && (!isHead || len(pend) > 0) {
		w.cl = int64(len(pend))
		extra[0] = strconv.Itoa(len(pend))
	}
	hasCL := w.cl >= 0
	if w.req.Close || w.dc.fl.closing.Load() {
		w.closeAfter = true
	}
	if headerHasToken(h["Connection"], "close") {
		w.closeAfter = true
	}
	if w.req.ContentLength != 0 && !w.closeAfter {
		if b, ok := w.req.Body.(*directBody); ok {
			// What the handler did not read is discarded (a little) or
			// ends the connection; the body reads nothing after this.
			b.mu.Lock()
			b.closed = true
			if left := b.lr.N; left > maxPostHandlerRead {
				w.closeAfter = true
			} else if left > 0 {
				if _, err := io.CopyN(io.Discard, &b.lr, left); err != nil {
					w.closeAfter = true
				}
			}
			b.mu.Unlock()
		}
	}
	if bodyAllowed(code) {
		_, haveType := h["Content-Type"]
		if h.Get("Content-Encoding") == "" && !haveType && !hasTE && len(pend)+len(next) > 0 {
			sniff := pend
			if len(pend) < 512 && len(next) > 0 {
				sniff = append(pend[:len(pend):len(pend)], next[:min(len(next), 512-len(pend))]...)
			}
			extra[1] = http.DetectContentType(sniff)
		}
	} else {
		h.Del("Content-Length")
		h.Del("Transfer-Encoding")
		if code == http.StatusNotModified {
			h.Del("Content-Type")
		}
		hasCL = false
	}
	if hasCL && hasTE && te != "identity" {
		h.Del("Content-Length")
		hasCL = false
	}
	switch {
	case isHead || !bodyAllowed(code) || code == http.StatusNoContent:
		h.Del("Transfer-Encoding")
		w.noBody = true
	case hasCL:
		h.Del("Transfer-Encoding")
	case hasTE && te == "identity":
		w.closeAfter = true
		h.Del("Transfer-Encoding")
	default:
		w.chunking = true
		extra[3] = "chunked"
		h.Del("Transfer-Encoding")
	}
	if w.closeAfter && !headerHasToken(h["Connection"], "close") {
		h.Del("Connection")
		extra[2] = "close"
	}
	if _, ok := h["Date"]; !ok {
		extra[4] = httpDate()
	}
	bw := w.bufs.bw
	writeStatusLine(bw, code)
	if trailers {
		ex := make(map[string]bool)
		for k := range h {
			if strings.HasPrefix(k, http.TrailerPrefix) {
				ex[k] = true
			}
		}
		h.WriteSubset(bw, ex)
	} else {
		writeHeaders(bw, h, nil)
	}
	for i, name := range [5]string{"Content-Length", "Content-Type", "Connection", "Transfer-Encoding", "Date"} {
		if extra[i] != "" {
			bw.WriteString(name)
			bw.WriteString(": ")
			bw.WriteString(extra[i])
			bw.WriteString("\r\n")
		}
	}
	_, w.err = bw.WriteString("\r\n")
	if len(pend) > 0 && !w.noBody {
		w.writeBody(pend)
	}
	w.npend = 0
}

// finish ends the response after the handler returned.
func (w *directWriter) finish() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	w.done = true
	if !w.committed {
		w.commit(nil)
	}
	if w.err != nil {
		return w.err
	}
	bw := w.bufs.bw
	if w.chunking {
		bw.WriteString("0\r\n")
		for _, k := range w.trailers {
			for _, v := range w.h[k] {
				writeHeaderLine(bw, k, v)
			}
		}
		for k, vs := range w.h {
			if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
				for _, v := range vs {
					writeHeaderLine(bw, name, v)
				}
			}
		}
		bw.WriteString("\r\n")
	}
	if w.cl >= 0 && w.written != w.cl && !w.noBody {
		// A short body: the client cannot frame the next response.
		w.closeAfter = true
	}
	return bw.Flush()
}

// writeHeaders writes h as http.Header.WriteSubset does (names sorted,
// invalid ones left out, each value with CR and LF made spaces and
// trimmed), without its pooled sorter; skip leaves out the names it
// returns true for (nil: none).
func writeHeaders(bw *bufio.Writer, h http.Header, skip func(string) bool) error {
	type kv struct {
		k  string
		vv []string
	}
	var arr [24]kv
	if len(h) > len(arr) {
		ex := make(map[string]bool)
		for k := range h {
			if skip != nil && skip(k) {
				ex[k] = true
			}
		}
		return h.WriteSubset(bw, ex)
	}
	kvs := arr[:0]
	for k, vv := range h {
		if (skip == nil || !skip(k)) && validHeaderName(k) {
			kvs = append(kvs, kv{k, vv})
		}
	}
	for i := 1; i < len(kvs); i++ { // insertion sort: a head has few names
		for j := i; j > 0 && kvs[j].k < kvs[j-1].k; j-- {
			kvs[j], kvs[j-1] = kvs[j-1], kvs[j]
		}
	}
	var err error
	for _, e := range kvs {
		for _, v := range e.vv {
			bw.WriteString(e.k)
			bw.WriteString(": ")
			bw.WriteString(cleanHeaderValue(v))
			_, err = bw.WriteString("\r\n")
		}
	}
	return err
}

// cleanHeaderValue is a header value as net/http writes it: each CR and
// LF made a space, then trimmed. (The replacer only when there is one:
// strings.Replacer allocates even when it replaces nothing.)
func cleanHeaderValue(v string) string {
	if strings.ContainsAny(v, "\r\n") {
		v = newlineToSpace.Replace(v)
	}
	return textproto.TrimString(v)
}

// newlineToSpace is net/http's headerNewlineToSpace.
var newlineToSpace = strings.NewReplacer("\n", " ", "\r", " ")

func writeHeaderLine(bw *bufio.Writer, k, v string) {
	bw.WriteString(k)
	bw.WriteString(": ")
	bw.WriteString(cleanHeaderValue(v))
	bw.WriteString("\r\n")
}

func writeStatusLine(bw *bufio.Writer, code int) {
	bw.WriteString("HTTP/1.1 ")
	text := http.StatusText(code)
	if text == "" {
		text = "status code " + strconv.Itoa(code)
	}
	bw.WriteString(strconv.Itoa(code))
	bw.WriteByte(' ')
	bw.WriteString(text)
	bw.WriteString("\r\n")
}

// bodyAllowed is net/http's bodyAllowedForStatus.
func bodyAllowed(code int) bool {
	switch {
	case code >= 100 && code <= 199:
		return false
	case code == http.StatusNoContent, code == http.StatusNotModified:
		return false
	}
	return true
}

// httpDate is the Date header value, formatted once a second.
func httpDate() string {
	mono := monoNow()
	if d := cachedDate.Load(); d != nil && mono < d.until {
		return d.s
	}
	now := time.Now()
	d := &dateCache{
		until: mono + time.Second - time.Duration(now.Nanosecond()), // the end of this second
		s:     now.UTC().Format(http.TimeFormat),
	}
	cachedDate.Store(d)
	return d.s
}

// dateCache is a Date value and the monoNow() until which it is right.
type dateCache struct {
	until time.Duration
	s     string
}

var cachedDate atomic.Pointer[dateCache]
