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
// bodies cut short by the client, bodies over a limit and bodies too slow
// for the listener's read timeout, some through the MCP read ahead, while
// normal clients run: the normal clients see no failure, no instance ever
// gets a passive failure (one would take it out: unhealthy_threshold 1 and
// no ejection ceiling), the slot's meters count only the normal requests,
// and every bad request gets its 4xx and is counted in
// bluegreen_client_errors_total.
func TestClientFaultsAreNotBackendFailures(t *testing.T) {
	obs := &observations{}
	tr := newTestRouter(t, Options{
		MCPMetrics: true, // reads JSON POST bodies ahead
		Health:     health.Options{UnhealthyThreshold: 1, MaxPassiveEjection: new(100)},
	}, false)
	tr.observeHook = obs.add
	tr.SetBackends(Blue, []string{
		newServer(t, http.HandlerFunc(echoBody)),
		newServer(t, http.HandlerFunc(echoBody)),
	}, true)

	// The production handler behind the limits a deployment may put in
	// front of it: a body limit and a read timeout.
	limited := newServer(t, http.MaxBytesHandler(tr.Production(), 1024))
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
		{name: "body over the limit", addr: limited, raw: head + "Content-Length: 4096\r\n\r\n" + strings.Repeat("a", 4096),
			want: rawAnswer{413, "client-error"}, reason: reasonBodyTooLarge},
		{name: "chunked JSON over the limit", addr: limited,
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
