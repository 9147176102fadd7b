package router

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/bluegreen-dev/bluegreen/internal/health"
)

// rawAnswer is what a raw HTTP/1.1 client got back.
type rawAnswer struct {
	code int
	kind string // X-Bluegreen-Error
}

// sendRawRequest writes raw to addr; with halfClose it then closes its write side
// (the body is cut short, the answer can still be read). It returns the
// answer, or an error when none came (the server closed first).
func sendRawRequest(addr, raw string, halfClose bool) (rawAnswer, error) {
	c, err := net.DialTimeout("tcp", addr, waitTimeout)
	if err != nil {
		return rawAnswer{}, err
	}
	defer func() { _ = c.Close() }()
	if err := c.SetDeadline(time.Now().Add(waitTimeout)); err != nil {
		return rawAnswer{}, err
	}
	if _, err := io.WriteString(c, raw); err != nil {
		return rawAnswer{}, err
	}
	if halfClose {
		if err := c.(*net.TCPConn).CloseWrite(); err != nil {
			return rawAnswer{}, err
		}
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return rawAnswer{}, fmt.Errorf("read answer: %w", err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return rawAnswer{}, fmt.Errorf("read answer body: %w", err)
	}
	if err := resp.Body.Close(); err != nil {
		return rawAnswer{}, err
	}
	return rawAnswer{code: resp.StatusCode, kind: resp.Header.Get(HeaderError)}, nil
}

// echoBody answers 200 with the request body it read whole.
func echoBody(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	_, _ = w.Write(body)
}

// badRequest is one kind of broken request a test sends, and what the
// client must get.
type badRequest struct {
	name      string
	addr      string // listener it goes to
	raw       string
	halfClose bool
	want      rawAnswer
	reason    clientReason
}

// TestClientFaultsAreNotBackendFailures sends malformed chunked bodies,
// bodies cut short by the client, bodies over the router's body limit (by
// Content-Length, or chunked and growing past it) and bodies too slow for
// the listener's read timeout, some through the MCP read ahead, to the
// production handler on a real listener while normal clients run: the
// normal clients see no failure, no instance ever gets a passive failure
// (one would take it out: unhealthy_threshold 1 and no ejection ceiling),
// the slot's meters count only the normal requests, and every bad request
// gets its 4xx and is counted in bluegreen_client_errors_total.
func TestClientFaultsAreNotBackendFailures(t *testing.T) {
	obs := &observations{}
	tr := newTestRouter(t, Options{
		MCPMetrics:     true, // reads JSON POST bodies ahead
		Health:         health.Options{UnhealthyThreshold: 1, MaxPassiveEjection: new(100)},
		MaxRequestBody: 1024, // the normal clients' bodies are shorter
	}, false)
	tr.observeHook = obs.add
	tr.SetBackends(Blue, []string{
		newServer(t, http.HandlerFunc(echoBody)),
		newServer(t, http.HandlerFunc(echoBody)),
	}, true)

	// The production handler behind a read timeout, as a deployment may
	// put in front of it.
	slow := httptest.NewUnstartedServer(tr.Production())
	slow.Config.ReadTimeout = time.Second // the raw client sends its head at once
	slow.Start()
	t.Cleanup(slow.Close)
	prod := tr.prod.Listener.Addr().String()

	const head = "POST /echo HTTP/1.1\r\nHost: x\r\n"
	bads := []badRequest{
		{name: "malformed chunk", addr: prod, raw: head + "Transfer-Encoding: chunked\r\n\r\nzz\r\n\r\n",
			want: rawAnswer{400, "client-error"}, reason: reasonBadBody},
		{name: "malformed chunk after a good one", addr: prod, raw: head + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n\r\n",
			want: rawAnswer{400, "client-error"}, reason: reasonBadBody},
		{name: "malformed chunk in the MCP read ahead", addr: prod,
			raw:  head + "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"j\r\nzz\r\n\r\n",
			want: rawAnswer{400, "client-error"}, reason: reasonBadBody},
		{name: "body cut short", addr: prod, raw: head + "Content-Length: 1000\r\n\r\n" + strings.Repeat("a", 100), halfClose: true,
			want: rawAnswer{499, "client-error"}, reason: reasonClientClosed},
		{name: "JSON body cut short", addr: prod, raw: head + "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"jsonrpc\"", halfClose: true,
			want: rawAnswer{499, "client-error"}, reason: reasonClientClosed},
		{name: "Content-Length over the limit", addr: prod, raw: head + "Content-Length: 4096\r\n\r\n" + strings.Repeat("a", 4096),
			want: rawAnswer{413, "client-error"}, reason: reasonBodyTooLarge},
		// Answered from the head alone: were the body waited for, this
		// would get no answer.
		{name: "Content-Length over the limit, body never sent", addr: prod, raw: head + "Content-Length: 1000000\r\n\r\n",
			want: rawAnswer{413, "client-error"}, reason: reasonBodyTooLarge},
		{name: "chunked body growing past the limit", addr: prod,
			raw:  head + "Transfer-Encoding: chunked\r\n\r\n" + strings.Repeat("12c\r\n"+strings.Repeat("b", 300)+"\r\n", 5) + "0\r\n\r\n",
			want: rawAnswer{413, "client-error"}, reason: reasonBodyTooLarge},
		{name: "chunked JSON over the limit", addr: prod,
			raw:  head + "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n" + strings.Repeat("a", 4096) + "\r\n0\r\n\r\n",
			want: rawAnswer{413, "client-error"}, reason: reasonBodyTooLarge},
		{name: "body too slow", addr: slow.Listener.Addr().String(), raw: head + "Content-Length: 100\r\n\r\nabc",
			want: rawAnswer{408, "client-error"}, reason: reasonTimeout},
	}
	const rounds = 5

	// Normal clients: 4 × 200 requests, GETs, POSTs with a body and JSON
	// POSTs (read ahead), on keep-alive connections.
	const clients, perClient = 4, 200
	var (
		wg       sync.WaitGroup
		failures atomic.Int64
		errMu    sync.Mutex
		firstErr error
	)
	transport := &http.Transport{MaxIdleConnsPerHost: clients}
	t.Cleanup(transport.CloseIdleConnections)
	client := &http.Client{Transport: transport, Timeout: waitTimeout}
	for c := range clients {
		wg.Go(func() {
			for i := range perClient {
				if err := normalRequest(client, tr.prod.URL, c, i); err != nil {
					failures.Add(1)
					errMu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					errMu.Unlock()
				}
			}
		})
	}
	// Bad clients, at the same time.
	badErrs := make(chan error, rounds*len(bads))
	for range rounds {
		for _, bad := range bads {
			wg.Go(func() {
				got, err := sendRawRequest(bad.addr, bad.raw, bad.halfClose)
				switch {
				case err != nil:
					badErrs <- fmt.Errorf("%s: %w", bad.name, err)
				case got != bad.want:
					badErrs <- fmt.Errorf("%s: got %+v, want %+v", bad.name, got, bad.want)
				}
			})
		}
	}
	wg.Wait()
	close(badErrs)
	for err := range badErrs {
		t.Error(err)
	}
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d of %d normal requests failed, first: %v", n, clients*perClient, firstErr)
	}

	for _, o := range obs.snapshot() {
		if o.source == sourcePassive && !o.ok {
			t.Errorf("passive failure of %s", o.addr)
		}
	}
	if h, n := tr.SlotReady(Blue); h != 2 || n != 2 {
		t.Errorf("SlotReady = %d of %d, want 2 of 2", h, n)
	}
	if m := tr.Measure(Blue); m.Requests != clients*perClient || m.Errors != 0 {
		t.Errorf("blue meter: %d requests, %d errors; want the %d normal ones, no error", m.Requests, m.Errors, clients*perClient)
	}
	wantReasons := map[clientReason]int{}
	for _, bad := range bads {
		wantReasons[bad.reason] += rounds
	}
	for _, reason := range clientReasons() {
		got := testutil.ToFloat64(tr.metrics.clientErrors.WithLabelValues("blue", string(reason)))
		if int(got) != wantReasons[reason] {
			t.Errorf("bluegreen_client_errors_total{slot=blue,reason=%s} = %v, want %d", reason, got, wantReasons[reason])
		}
	}
	if got := testutil.ToFloat64(tr.metrics.requests.WithLabelValues("blue", "200")); got != clients*perClient {
		t.Errorf("bluegreen_requests_total{code=200} = %v, want %d", got, clients*perClient)
	}
	if n, err := testutil.GatherAndCount(tr.reg, "bluegreen_requests_total"); err != nil || n != 1 {
		t.Errorf("bluegreen_requests_total has %d series (%v), want only code 200", n, err)
	}
	if st := tr.Status().Slots[Blue]; st.Retries != 0 {
		t.Errorf("%d retries, want none", st.Retries)
	}
}

// normalRequest sends request i of client c, one of three kinds, and
// checks the echo.
func normalRequest(client *http.Client, base string, c, i int) error {
	var req *http.Request
	var err error
	body := fmt.Sprintf("client %d request %d", c, i)
	switch i % 3 {
	case 0:
		req, err = http.NewRequest(http.MethodGet, base+"/echo", nil)
		body = ""
	case 1:
		req, err = http.NewRequest(http.MethodPost, base+"/echo", strings.NewReader(body))
	default:
		body = fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"c%d"}}`, i, c)
		req, err = http.NewRequest(http.MethodPost, base+"/echo", io.NopCloser(strings.NewReader(body))) // chunked
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
	}
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	got, err := io.ReadAll(resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || string(got) != body {
		return fmt.Errorf("%s %s: status %d %q, want 200 %q", req.Method, req.URL.Path, resp.StatusCode, got, body)
	}
	return nil
}

// TestClientFaultsOnPinnedAndSyntheticRequests: a broken body on a pinned
// MCP session's request, and on a synthetic request, is a client fault
// too: no passive failure, nothing on the meters.
func TestClientFaultsOnPinnedAndSyntheticRequests(t *testing.T) {
	obs := &observations{}
	tr := newTestRouter(t, Options{
		MCPSessions: true,
		Health:      health.Options{UnhealthyThreshold: 1, MaxPassiveEjection: new(100)},
	}, false)
	tr.observeHook = obs.add
	mcp := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Mcp-Session-Id", "s1")
		echoBody(w, r)
	}))
	tr.SetBackends(Blue, []string{mcp}, true)

	// Pin the session.
	if code, _, _ := get(t, tr.prod.Client(), tr.prod.URL+"/mcp", nil); code != http.StatusOK {
		t.Fatalf("initialize: status %d", code)
	}
	got, err := sendRawRequest(tr.prod.Listener.Addr().String(),
		"POST /mcp HTTP/1.1\r\nHost: x\r\nMcp-Session-Id: s1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n", false)
	if err != nil || got != (rawAnswer{400, "client-error"}) {
		t.Fatalf("pinned request with a malformed body: %+v, %v; want 400 client-error", got, err)
	}

	// A synthetic request whose body fails to read.
	req := httptest.NewRequest(http.MethodPost, "/mcp", io.MultiReader(strings.NewReader("{"), errReader{io.ErrUnexpectedEOF}))
	rec := httptest.NewRecorder()
	tr.Synthetic(Blue).ServeHTTP(rec, req)
	if rec.Code != statusClientClosed || rec.Header().Get(HeaderError) != "client-error" {
		t.Fatalf("synthetic request with a broken body: %d %q", rec.Code, rec.Header().Get(HeaderError))
	}

	for _, o := range obs.snapshot() {
		if o.source == sourcePassive && !o.ok {
			t.Errorf("passive failure of %s", o.addr)
		}
	}
	if h, _ := tr.SlotReady(Blue); h != 1 {
		t.Fatalf("the instance left rotation")
	}
	if m := tr.Measure(Blue); m.Requests != 1 || m.Errors != 0 {
		t.Errorf("user meter %+v, want the initialize only", m)
	}
	if m, _ := tr.MeasureOf(Blue, SyntheticTraffic, Filter{}); m.Requests != 0 {
		t.Errorf("synthetic meter %+v, want nothing", m)
	}
	if got := testutil.ToFloat64(tr.metrics.clientErrors.WithLabelValues("blue", string(reasonBadBody))); got != 1 {
		t.Errorf("client errors (bad_body) = %v, want 1: the synthetic one is not counted", got)
	}
}

// TestMaxRequestBody: Options.MaxRequestBody limits the bodies of
// production and preview requests, not synthetic ones. A body over it by
// its Content-Length gets 413 without reaching an instance; a chunked one
// gets 413 once it grows past it; one of exactly the limit passes whole.
func TestMaxRequestBody(t *testing.T) {
	if _, err := New(Options{MaxRequestBody: -1}); err == nil || !strings.Contains(err.Error(), "max request body -1 is negative") {
		t.Fatalf("New with a negative limit: %v", err)
	}
	const limit = 1000
	tr := newTestRouter(t, Options{MaxRequestBody: limit}, false)
	var hits [numSlots]atomic.Int64
	for _, slot := range allSlots() {
		tr.SetBackends(slot, []string{newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits[slot.Index()].Add(1)
			echoBody(w, r)
		}))}, true)
	}
	prod, preview := tr.prod.Listener.Addr().String(), tr.preview.Listener.Addr().String()
	const head = "POST /echo HTTP/1.1\r\nHost: x\r\n"
	over := head + "Content-Length: 1001\r\n\r\n" + strings.Repeat("a", limit+1)

	for _, tc := range []struct {
		name, addr string
		slot       Slot
	}{{"production", prod, Blue}, {"preview", preview, Green}} {
		got, err := sendRawRequest(tc.addr, over, false)
		if err != nil || got != (rawAnswer{413, "client-error"}) {
			t.Fatalf("%s, Content-Length over the limit: %+v, %v; want 413 client-error", tc.name, got, err)
		}
		if n := hits[tc.slot.Index()].Load(); n != 0 {
			t.Fatalf("%s: the instance got %d requests, want none", tc.name, n)
		}
	}
	chunked := func(n int) string {
		return head + "Transfer-Encoding: chunked\r\n\r\n" + fmt.Sprintf("%x\r\n%s\r\n", n, strings.Repeat("c", n)) + "0\r\n\r\n"
	}
	for name, raw := range map[string]string{
		"chunked, one byte over":       chunked(limit + 1),
		"Content-Length at the limit":  head + "Content-Length: 1000\r\n\r\n" + strings.Repeat("a", limit),
		"chunked, at the limit":        chunked(limit),
		"no body, Content-Length 0":    head + "Content-Length: 0\r\n\r\n",
		"chunked, at the limit, in 10": head + "Transfer-Encoding: chunked\r\n\r\n" + strings.Repeat("64\r\n"+strings.Repeat("d", 100)+"\r\n", 10) + "0\r\n\r\n",
	} {
		want := rawAnswer{code: http.StatusOK}
		if strings.Contains(name, "over") {
			want = rawAnswer{413, "client-error"}
		}
		if got, err := sendRawRequest(prod, raw, false); err != nil || got != want {
			t.Errorf("%s: %+v, %v; want %+v", name, got, err, want)
		}
	}
	// The instance gets a body of the limit whole.
	resp, err := tr.prod.Client().Post(tr.prod.URL+"/echo", "text/plain", io.NopCloser(strings.NewReader(strings.Repeat("e", limit))))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil || resp.StatusCode != http.StatusOK || len(body) != limit {
		t.Fatalf("a chunked body of the limit: status %d, %d bytes back, %v; want 200 and %d", resp.StatusCode, len(body), err, limit)
	}

	// A synthetic request is bluegreen's own: not limited.
	rec := httptest.NewRecorder()
	tr.Synthetic(Blue).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/echo", strings.NewReader(strings.Repeat("s", 4*limit))))
	if rec.Code != http.StatusOK || rec.Body.Len() != 4*limit {
		t.Fatalf("synthetic request over the limit: %d, %d bytes back; want 200 and %d", rec.Code, rec.Body.Len(), 4*limit)
	}

	for slot, want := range map[Slot]float64{Blue: 2, Green: 1} {
		if got := testutil.ToFloat64(tr.metrics.clientErrors.WithLabelValues(string(slot), string(reasonBodyTooLarge))); got != want {
			t.Errorf("bluegreen_client_errors_total{slot=%s,reason=body_too_large} = %v, want %v", slot, got, want)
		}
	}
	if m := tr.Measure(Blue); m.Requests != 5 || m.Errors != 0 {
		t.Errorf("blue meter: %d requests, %d errors; want the 5 that passed, no error", m.Requests, m.Errors)
	}
}

// errReader fails every read with err.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// A failure of the instance itself still counts, with a body too: a
// backend that resets the connection while it reads the body.
func TestBackendFailureWithBodyStillCounts(t *testing.T) {
	obs := &observations{}
	tr := newTestRouter(t, Options{Health: health.Options{UnhealthyThreshold: 1, MaxPassiveEjection: new(100)}}, false)
	tr.observeHook = obs.add
	bad := resettingAddr(t)
	tr.SetBackends(Blue, []string{bad}, true)
	resp, err := tr.prod.Client().Post(tr.prod.URL+"/", "text/plain", strings.NewReader("payload"))
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusBadGateway || resp.Header.Get(HeaderError) != "upstream-error" {
		t.Fatalf("status %d %q, want 502 upstream-error", resp.StatusCode, resp.Header.Get(HeaderError))
	}
	var failed bool
	for _, o := range obs.snapshot() {
		failed = failed || (o.addr == bad && o.source == sourcePassive && !o.ok)
	}
	if !failed {
		t.Fatal("no passive failure for an instance that closed the connection")
	}
	if m := tr.Measure(Blue); m.Errors != 1 {
		t.Fatalf("meter %+v, want the 502 as an error", m)
	}
}

func TestClassifyBodyError(t *testing.T) {
	timeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	for _, tc := range []struct {
		err  error
		want clientReason
	}{
		{errors.New("invalid byte in chunk length"), reasonBadBody},
		{&http.MaxBytesError{Limit: 10}, reasonBodyTooLarge},
		{fmt.Errorf("read: %w", &http.MaxBytesError{Limit: 10}), reasonBodyTooLarge},
		{timeout, reasonTimeout},
		{context.DeadlineExceeded, reasonTimeout}, // a net.Error with Timeout()
		{io.ErrUnexpectedEOF, reasonClientClosed},
		{&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, reasonClientClosed},
	} {
		if got := classifyBodyError(tc.err); got != tc.want {
			t.Errorf("classifyBodyError(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}
