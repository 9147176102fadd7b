package router

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/health"
)

// closedAddr returns a loopback address nobody listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// resettingAddr returns an address that accepts connections, reads the
// request and closes without answering.
func resettingAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4096)
			_, _ = c.Read(buf)
			_ = c.Close()
		}
	}()
	return ln.Addr().String()
}

// observations records what the health hook saw.
type observations struct {
	mu  sync.Mutex
	all []observation
}

func (o *observations) add(ob observation) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.all = append(o.all, ob)
}

func (o *observations) snapshot() []observation {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]observation(nil), o.all...)
}

func TestRetryIdempotentRequests(t *testing.T) {
	for _, bad := range []struct {
		name string
		addr func(*testing.T) string
	}{
		{"connection refused", closedAddr},
		{"closed before headers", resettingAddr},
	} {
		t.Run(bad.name, func(t *testing.T) {
			tr := newTestRouter(t, Options{Health: health.Options{UnhealthyThreshold: 100}}, false)
			var posts atomic.Int32
			good := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPost {
					posts.Add(1)
				}
				body, _ := io.ReadAll(r.Body)
				_, _ = io.WriteString(w, "ok"+string(body))
			}))
			tr.SetBackends(Blue, []string{bad.addr(t), good}, true)

			send := func(method string, header http.Header, body string) int {
				req, err := http.NewRequest(method, tr.prod.URL+"/", strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range header {
					req.Header[k] = v
				}
				resp, err := tr.prod.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, resp.Body); err != nil {
					t.Fatal(err)
				}
				if err := resp.Body.Close(); err != nil {
					t.Fatal(err)
				}
				return resp.StatusCode
			}

			// Round-robin alternates, so half of these first hit the bad
			// instance; every one succeeds.
			for i := range 10 {
				if code := send(http.MethodGet, nil, ""); code != http.StatusOK {
					t.Fatalf("GET %d: status %d", i, code)
				}
				if code := send(http.MethodPost, http.Header{"Idempotency-Key": {"k"}}, ""); code != http.StatusOK {
					t.Fatalf("POST with Idempotency-Key %d: status %d", i, code)
				}
			}
			if got := tr.Status().Slots[Blue].Retries; got != 10 {
				t.Fatalf("retries = %d, want 10", got)
			}

			// A POST with a body and no idempotency key is not retried.
			posts.Store(0)
			codes := map[int]int{}
			for range 2 {
				codes[send(http.MethodPost, nil, "payload")]++
			}
			if codes[http.StatusOK] != 1 || codes[http.StatusBadGateway] != 1 || posts.Load() != 1 {
				t.Fatalf("2 POSTs: codes %v, good backend saw %d; want one 200 and one 502, 1 POST", codes, posts.Load())
			}
		})
	}
}

func TestPassiveFailuresLeaveRotationAndActiveChecksBringBack(t *testing.T) {
	var healthy atomic.Bool
	flaky := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" && !healthy.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "flaky")
	}))
	good := newServer(t, slotHandler(Blue))

	obs := &observations{}
	tr := newTestRouter(t, Options{Health: health.Options{
		Interval: 10 * time.Millisecond, HealthyThreshold: 3, UnhealthyThreshold: 2,
	}}, false)
	tr.observeHook = obs.add
	dead := closedAddr(t)
	tr.SetBackends(Blue, []string{dead, good}, true)

	// Passive: two proxy errors take the dead instance out of rotation
	// without any active check running.
	for range 4 {
		if code, _, body := get(t, tr.prod.Client(), tr.prod.URL+"/", nil); code != http.StatusOK {
			t.Fatalf("status %d %q", code, body)
		}
	}
	if h, n := tr.SlotReady(Blue); h != 1 || n != 2 {
		t.Fatalf("SlotReady = %d of %d, want 1 of 2", h, n)
	}
	var passiveFails int
	for _, o := range obs.snapshot() {
		if o.addr == dead && o.source == sourcePassive && !o.ok {
			passiveFails++
		}
	}
	if passiveFails != 2 {
		t.Fatalf("passive failures observed = %d, want exactly the threshold 2", passiveFails)
	}
	if st := tr.Status().Slots[Blue].Backends[0]; st.Healthy || st.ConsecutiveFailures != 2 {
		t.Fatalf("dead backend status %+v", st)
	}

	// Active: replace the dead instance by a flaky one that starts
	// unhealthy, make it healthy, and count the probes it took to return.
	tr.SetBackends(Blue, []string{flaky, good}, false)
	ctx := t.Context()
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx) }()
	healthy.Store(true)
	waitFor(t, "flaky to come back", func() bool { h, _ := tr.SlotReady(Blue); return h == 2 })
	var okBeforeBack int
	for _, o := range obs.snapshot() {
		if o.addr != flaky || o.source != sourceActive {
			continue
		}
		if o.ok {
			okBeforeBack++
		}
		if o.changed {
			break
		}
	}
	if okBeforeBack != 3 {
		t.Fatalf("successful probes until back in rotation = %d, want the healthy threshold 3", okBeforeBack)
	}
	if err := tr.Run(ctx); err == nil {
		t.Fatal("a second Run succeeded")
	}
	tr.SetBackends(Blue, []string{good}, true)
	if h, n := tr.SlotReady(Blue); h != 1 || n != 1 {
		t.Fatalf("after removing flaky: %d of %d", h, n)
	}
}

func TestRetryable(t *testing.T) {
	tests := []struct {
		method string
		header http.Header
		body   bool
		want   bool
	}{
		{http.MethodGet, nil, false, true},
		{http.MethodHead, nil, false, true},
		{http.MethodOptions, nil, false, true},
		{http.MethodTrace, nil, false, true},
		{http.MethodPost, nil, false, false},
		{http.MethodPut, nil, false, false},
		{http.MethodPost, http.Header{"Idempotency-Key": {"1"}}, false, true},
		{http.MethodPost, http.Header{"X-Idempotency-Key": {"1"}}, false, true},
		{http.MethodPost, http.Header{"Idempotency-Key": {"1"}}, true, false}, // body not replayable
	}
	for _, tt := range tests {
		req, err := http.NewRequest(tt.method, "http://x/", nil)
		if err != nil {
			t.Fatal(err)
		}
		if tt.body {
			req.Body = io.NopCloser(strings.NewReader("x"))
			req.GetBody = nil
		}
		if tt.header != nil {
			req.Header = tt.header
		}
		if got := retryable(req); got != tt.want {
			t.Errorf("retryable(%s %v body=%v) = %v, want %v", tt.method, tt.header, tt.body, got, tt.want)
		}
	}
}
