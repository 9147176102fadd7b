package router

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rawBackend is an HTTP/1.1 instance written on a bare listener, so that
// a test sees the exact bytes the router sent, and answers with exact
// bytes chosen by the request path (see conformanceResponse).
type rawBackend struct {
	ln   net.Listener
	mu   sync.Mutex
	seen [][]byte // the requests' bytes, in arrival order
	// closeIdle closes a connection after a response with this
	// probability (the keep-alive race), without saying so.
	closeIdle float64
	wg        sync.WaitGroup
}

func newRawBackend(t testing.TB) *rawBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &rawBackend{ln: ln}
	b.wg.Add(1)
	go b.accept()
	t.Cleanup(func() { ln.Close(); b.wg.Wait() })
	return b
}

func (b *rawBackend) addr() string { return b.ln.Addr().String() }

func (b *rawBackend) accept() {
	defer b.wg.Done()
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		conns.Add(1)
		go func() { defer conns.Done(); b.serveConn(c) }()
	}
}

// recorder keeps what is read through it.
type recorder struct {
	r   io.Reader
	buf bytes.Buffer
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.buf.Write(p[:n])
	return n, err
}

func (b *rawBackend) serveConn(c net.Conn) {
	defer c.Close()
	rec := &recorder{r: c}
	br := bufio.NewReader(rec)
	for {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			return
		}
		b.mu.Lock()
		b.seen = append(b.seen, bytes.Clone(rec.buf.Bytes()))
		b.mu.Unlock()
		rec.buf.Reset()
		resp, closeAfter := conformanceResponse(req)
		if _, err := c.Write(resp); err != nil || closeAfter {
			return
		}
		if b.closeIdle > 0 && rand.Float64() < b.closeIdle {
			return
		}
	}
}

// lastSeen returns the bytes of the last request the backend read.
func (b *rawBackend) lastSeen() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.seen) == 0 {
		return nil
	}
	return b.seen[len(b.seen)-1]
}

// conformanceResponse is the backend's answer to req, by its path, and
// whether the backend closes the connection after it.
func conformanceResponse(req *http.Request) ([]byte, bool) {
	body := "hello\n"
	switch req.URL.Path {
	case "/chunked":
		return []byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n"), false
	case "/trailer":
		return []byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n2\r\nok\r\n0\r\nX-Sum: 42\r\n\r\n"), false
	case "/204":
		return []byte("HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n"), false
	case "/304":
		return []byte("HTTP/1.1 304 Not Modified\r\nEtag: \"v1\"\r\n\r\n"), false
	case "/close":
		return []byte("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 6\r\n\r\n" + body), true
	case "/drop":
		// Keep-alive by its headers, then the connection is gone: the
		// next request on it meets a closed connection.
		return []byte("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n" + body), true
	case "/eof":
		return []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + body), true
	case "/hop":
		return []byte("HTTP/1.1 200 OK\r\nConnection: X-Secret, keep-alive\r\nX-Secret: s\r\nKeep-Alive: timeout=5\r\nX-Dup: a\r\nX-Dup: b\r\nx-lower-case: v\r\nContent-Length: 6\r\n\r\n" + body), false
	case "/big":
		big := strings.Repeat("x", 64<<10)
		return []byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(big), big)), false
	case "/early":
		return []byte("HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n" + body), false
	}
	cl := "Content-Length: 6\r\n"
	if req.Method == http.MethodHead {
		body = ""
	}
	return []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" + cl + "\r\n" + body), false
}

// conformanceCase is one request of the corpus, as raw bytes to the
// router.
type conformanceCase struct {
	name   string
	method string
	raw    string
}

func conformanceCorpus() []conformanceCase {
	req := func(method, target, extra string, body []byte) string {
		s := method + " " + target + " HTTP/1.1\r\nHost: app.example\r\nUser-Agent: conformance\r\n" + extra
		if body != nil {
			s += fmt.Sprintf("Content-Length: %d\r\n", len(body))
		}
		return s + "\r\n" + string(body)
	}
	var cs []conformanceCase
	add := func(name, method, raw string) { cs = append(cs, conformanceCase{name, method, raw}) }
	for _, m := range []string{"GET", "DELETE", "OPTIONS", "PATCH", "PUT", "POST"} {
		add("method-"+m, m, req(m, "/m", "", nil))
	}
	add("query-raw", "GET", req("GET", "/q?a=1&b=%zz;c&d=", "", nil))
	add("header-casing", "GET", req("GET", "/h", "x-lower: 1\r\nX-UPPER: 2\r\nX-Mixed-Case: 3\r\n", nil))
	add("duplicate-headers", "GET", req("GET", "/h", "X-Dup: a\r\nX-Dup: b\r\nx-dup: c\r\n", nil))
	add("connection-tokens", "GET", req("GET", "/h", "Connection: keep-alive, X-Hop, Te\r\nX-Hop: secret\r\nKeep-Alive: 5\r\nProxy-Connection: keep-alive\r\nUpgrade-Insecure-Requests: 1\r\n", nil))
	add("te-trailers", "GET", req("GET", "/h", "Te: trailers\r\n", nil))
	add("forwarded-spoof", "GET", req("GET", "/h", "X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Host: evil\r\nX-Forwarded-Proto: https\r\nForwarded: for=6.6.6.6\r\n", nil))
	add("forwarded-chain", "GET", req("GET", "/h", "X-Forwarded-For: 198.51.100.1, 10.0.0.1\r\nX-Forwarded-For: 10.0.0.2\r\nX-Forwarded-Proto: https\r\n", nil))
	for _, n := range []int{0, 1, 64 << 10, 8 << 20} {
		body := bytes.Repeat([]byte{'b'}, n)
		add(fmt.Sprintf("post-body-%d", n), "POST", req("POST", "/m", "Content-Type: application/octet-stream\r\n", body))
	}
	add("head", "HEAD", req("HEAD", "/m", "", nil))
	add("chunked-response", "GET", req("GET", "/chunked", "", nil))
	add("trailer-response", "GET", req("GET", "/trailer", "Te: trailers\r\n", nil))
	add("204", "GET", req("GET", "/204", "", nil))
	add("304", "GET", req("GET", "/304", "If-None-Match: \"v1\"\r\n", nil))
	add("backend-closes", "GET", req("GET", "/close", "", nil))
	add("backend-drops", "GET", req("GET", "/drop", "", nil))
	add("after-drop", "GET", req("GET", "/m", "", nil)) // on the dropped connection when pooled
	add("close-delimited", "GET", req("GET", "/eof", "", nil))
	add("hop-response", "GET", req("GET", "/hop", "", nil))
	add("big-response", "GET", req("GET", "/big", "", nil))
	add("early-hints", "GET", req("GET", "/early", "", nil))
	add("chunked-request", "POST", "POST /m HTTP/1.1\r\nHost: app.example\r\nUser-Agent: conformance\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
	add("expect-continue", "POST", req("POST", "/m", "Expect: 100-continue\r\n", []byte("abc")))
	return cs
}

// clientView is what a client saw of a response: the status line,
// headers without Date (sorted, names as sent), body and trailers
// decoded. Chunk boundaries toward the client are the server's choice,
// not part of HTTP's meaning.
func exchange(t *testing.T, addr string, c conformanceCase) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, c.raw); err != nil {
		t.Fatalf("%s: write: %v", c.name, err)
	}
	br := bufio.NewReader(conn)
	var out strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("%s: read head: %v (so far %q)", c.name, err, out.String())
		}
		out.WriteString(line)
		if line != "\r\n" {
			continue
		}
		if !strings.HasPrefix(lastHead(out.String()), "HTTP/1.1 1") {
			break
		}
	}
	head := out.String()
	resp, err := http.ReadResponse(bufio.NewReader(io.MultiReader(strings.NewReader(lastHead(head)), br)), &http.Request{Method: c.method})
	if err != nil {
		t.Fatalf("%s: parse: %v", c.name, err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: body: %v", c.name, err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSuffix(head, "\r\n\r\n"), "\r\n") {
		if !strings.HasPrefix(l, "Date: ") {
			lines = append(lines, l)
		}
	}
	first := lines[0]
	rest := lines[1:]
	sort.Strings(rest)
	return fmt.Sprintf("%s\n%s\nbody %d bytes %x\ntrailer %v", first, strings.Join(rest, "\n"), len(body), hashOf(body), resp.Trailer)
}

// lastHead returns the last response head in s (after any 1xx heads).
func lastHead(s string) string {
	heads := strings.Split(strings.TrimSuffix(s, "\r\n\r\n"), "\r\n\r\n")
	return heads[len(heads)-1] + "\r\n\r\n"
}

func hashOf(b []byte) uint64 {
	var h uint64 = 14695981039346656037
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// TestConformanceFastPathMatchesReverseProxy sends the corpus through a
// router on the fast path and one on http.Transport, and compares what
// the backend received (byte for byte) and what the client got (status,
// headers but Date, body, trailers; the 1xx heads included).
func TestConformanceFastPathMatchesReverseProxy(t *testing.T) {
	t.Run("untrusted client", func(t *testing.T) { testConformance(t, nil) })
	// Through a trusted proxy (the test client's loopback address): the
	// X-Forwarded-* it sends are kept and appended to on every path.
	t.Run("trusted proxy", func(t *testing.T) { testConformance(t, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}) })
}

// testConformance is TestConformanceFastPathMatchesReverseProxy with the
// routers trusting the proxies tp.
func testConformance(t *testing.T, tp []netip.Prefix) {
	backend := newRawBackend(t)
	fast := newTestRouter(t, Options{TrustedProxies: tp}, false)
	slow := newTestRouter(t, Options{Transport: newTransport(), TrustedProxies: tp}, false)
	for _, r := range []*testRouter{fast, slow} {
		r.SetBackends(Blue, []string{backend.addr()}, true)
	}
	ft := fast.slots[0].proxy.Transport.(*slotTransport).base.(*fastTransport)
	fastHost := strings.TrimPrefix(fast.prod.URL, "http://")
	slowHost := strings.TrimPrefix(slow.prod.URL, "http://")
	// The client-side fast path (fastserve.go) in front of the fast
	// router: its own request parsing and response writing, net/http for
	// what it hands off.
	directHost := serveDirect(t, fast.Router, fast.Production())
	for _, c := range conformanceCorpus() {
		gotSlow := exchange(t, slowHost, c)
		seenSlow := backend.lastSeen()
		directBefore := fast.direct.Load()
		gotDirect := exchange(t, directHost, c)
		seenDirect := backend.lastSeen()
		wantDirect := !strings.HasPrefix(c.name, "chunked-request") && c.name != "expect-continue"
		if got := fast.direct.Load() > directBefore; got != wantDirect {
			t.Errorf("%s: served by the client-side fast path %v, want %v", c.name, got, wantDirect)
		}
		before := ft.fast.Load()
		gotFast := exchange(t, fastHost, c)
		seenFast := backend.lastSeen()
		if c.name == "trailer-response" {
			// With trailers and no Content-Type, whether the client
			// gets a sniffed Content-Type depends on whether the
			// server sends the head before the first body bytes: it
			// varies from run to run on either path.
			ct := "Content-Type: text/plain; charset=utf-8\n"
			gotFast = strings.Replace(gotFast, ct, "", 1)
			gotSlow = strings.Replace(gotSlow, ct, "", 1)
			gotDirect = strings.Replace(gotDirect, ct, "", 1)
		}
		if gotDirect != gotSlow {
			t.Errorf("%s: client saw\nclient-side fast path:\n%s\nReverseProxy:\n%s", c.name, gotDirect, gotSlow)
		}
		if !bytes.Equal(seenDirect, seenSlow) {
			t.Errorf("%s: backend saw\nclient-side fast path:\n%q\nReverseProxy:\n%q", c.name, clipBytes(seenDirect), clipBytes(seenSlow))
		}
		if gotFast != gotSlow {
			t.Errorf("%s: client saw\nfast path:\n%s\nReverseProxy:\n%s", c.name, gotFast, gotSlow)
		}
		if !bytes.Equal(seenFast, seenSlow) {
			t.Errorf("%s: backend saw\nfast path:\n%q\nReverseProxy:\n%q", c.name, clipBytes(seenFast), clipBytes(seenSlow))
		}
		wantFast := !strings.HasPrefix(c.name, "chunked-request") && c.name != "expect-continue"
		if got := ft.fast.Load() > before; got != wantFast {
			t.Errorf("%s: on the fast path %v, want %v", c.name, got, wantFast)
		}
	}
}

func clipBytes(b []byte) []byte {
	if len(b) > 600 {
		return append(b[:600:600], "…"...)
	}
	return b
}

// TestFastPathKeepAliveRace: against an instance that closes idle
// connections at random without saying so, 10,000 GETs through the fast
// path see no error: a request that meets a connection the instance just
// closed is sent again on a new one.
func TestFastPathKeepAliveRace(t *testing.T) {
	for _, direct := range []bool{false, true} {
		name := "net/http server"
		if direct {
			name = "client-side fast path"
		}
		t.Run(name, func(t *testing.T) { testKeepAliveRace(t, direct) })
	}
}

// testKeepAliveRace is TestFastPathKeepAliveRace with the clients on
// net/http's server or on the client-side fast path (direct).
func testKeepAliveRace(t *testing.T, direct bool) {
	backend := newRawBackend(t)
	backend.closeIdle = 0.3
	r := newTestRouter(t, Options{}, false)
	r.SetBackends(Blue, []string{backend.addr()}, true)
	ft := r.slots[0].proxy.Transport.(*slotTransport).base.(*fastTransport)
	url := r.prod.URL + "/m"
	if direct {
		url = "http://" + serveDirect(t, r.Router, r.Production()) + "/m"
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 8}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	const total, workers = 10000, 8
	var failed atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= total {
				resp, err := client.Get(url)
				if err != nil {
					failed.Add(1)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || string(body) != "hello\n" {
					if failed.Add(1) < 5 {
						t.Logf("status %d body %q", resp.StatusCode, body)
					}
				}
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Errorf("%d of %d requests failed", n, total)
	}
	if ft.fast.Load() < total {
		t.Errorf("%d requests on the fast path, want %d", ft.fast.Load(), total)
	}
	if direct && r.direct.Load() != total {
		t.Errorf("%d requests on the client-side fast path, want %d", r.direct.Load(), total)
	}
	if rt := r.slots[0].retries.Load(); rt != 0 {
		t.Logf("%d retries on another instance", rt)
	}
}
