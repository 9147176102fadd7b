package router

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// waitTimeout bounds every wait in the tests; reaching it is a failure,
// never a pass.
const waitTimeout = 15 * time.Second

// logBuffer collects log output from many goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testRouter is a Router with its production and preview listeners, its
// registry and its captured logs.
type testRouter struct {
	*Router
	prod    *httptest.Server
	preview *httptest.Server
	reg     *prometheus.Registry
	logs    *logBuffer
}

// newTestRouter builds a Router from opts (Logger and Registry are
// supplied), serves it on loopback and dumps its logs when the test fails.
// Active health checks run only when run is true.
func newTestRouter(t testing.TB, opts Options, run bool) *testRouter {
	t.Helper()
	logs := &logBuffer{}
	reg := prometheus.NewRegistry()
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.Registry = reg
	r, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	tr := &testRouter{Router: r, reg: reg, logs: logs}
	tr.prod = httptest.NewServer(r.Production())
	t.Cleanup(tr.prod.Close)
	tr.preview = httptest.NewServer(r.Preview())
	t.Cleanup(tr.preview.Close)
	if run {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("router logs:\n%s", logs.String())
		}
	})
	return tr
}

// newServer starts an httptest server for h and returns its host:port.
func newServer(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// slotHandler answers with its slot in the X-Backend-Slot header and body.
func slotHandler(slot Slot) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Backend-Slot", string(slot))
		_, _ = io.WriteString(w, string(slot))
	})
}

// echoed is what echoHandler saw.
type echoed struct {
	Slot   string      `json:"slot"`
	Host   string      `json:"host"`
	Query  string      `json:"query"`
	Header http.Header `json:"header"`
}

// echoHandler answers with the request it received, as JSON.
func echoHandler(slot Slot) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(echoed{Slot: string(slot), Host: r.Host, Query: r.URL.RawQuery, Header: r.Header})
	})
}

// get performs a GET and returns status, served slot and body.
func get(t testing.TB, client *http.Client, url string, header http.Header) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer func() {
		if err := resp.Body.Close(); err != nil {
			t.Errorf("close body: %v", err)
		}
	}()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return resp.StatusCode, resp.Header.Get(HeaderSlot), string(body)
}

// getEcho performs a GET against echo backends and decodes what they saw.
func getEcho(t testing.TB, client *http.Client, url string, header http.Header) echoed {
	t.Helper()
	code, _, body := get(t, client, url, header)
	if code != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", url, code, body)
	}
	var e echoed
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("decode echo %q: %v", body, err)
	}
	return e
}

// sseReader reads "data:" lines of a server-sent events stream.
type sseReader struct {
	resp *http.Response
	br   *bufio.Reader
}

func openSSE(t testing.TB, client *http.Client, url string) *sseReader {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("open stream %s: %v", url, err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("open stream %s: status %d", url, resp.StatusCode)
	}
	return &sseReader{resp: resp, br: bufio.NewReader(resp.Body)}
}

// next returns the next event's data; err is io.EOF at a clean end of
// the stream.
func (s *sseReader) next() (string, error) {
	for {
		line, err := s.br.ReadString('\n')
		if err != nil {
			return "", err
		}
		if data, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "data: "); ok {
			return data, nil
		}
	}
}

// nextWithin is next with a deadline; it fails the test on a timeout.
func (s *sseReader) nextWithin(t testing.TB) (string, error) {
	t.Helper()
	type result struct {
		data string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		d, err := s.next()
		ch <- result{d, err}
	}()
	select {
	case r := <-ch:
		return r.data, r.err
	case <-time.After(waitTimeout):
		t.Fatal("no event from stream")
		return "", nil
	}
}

// writeEvent writes one SSE event and flushes it.
func writeEvent(w http.ResponseWriter, data string) error {
	if _, err := io.WriteString(w, "data: "+data+"\n\n"); err != nil {
		return err
	}
	return http.NewResponseController(w).Flush()
}

// waitFor polls cond until it holds or waitTimeout passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// recv waits for a value on ch.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}
