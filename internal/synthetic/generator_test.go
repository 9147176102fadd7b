package synthetic

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/router"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

const waitTimeout = 20 * time.Second

// setup is a router with its registry and a running generator.
type setup struct {
	r   *router.Router
	reg *prometheus.Registry
	g   *Generator
}

func newSetup(t *testing.T, ropts router.Options, sc config.Synthetic, backends map[router.Slot][]string) *setup {
	t.Helper()
	reg := prometheus.NewRegistry()
	ropts.Registry = reg
	ropts.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	r, err := router.New(ropts)
	if err != nil {
		t.Fatal(err)
	}
	for slot, addrs := range backends {
		r.SetBackends(slot, addrs, true)
	}
	g, err := New(Options{
		Config:   sc,
		Handler:  func(s slot.Slot) http.Handler { return r.Synthetic(s) },
		Host:     "127.0.0.1:8080",
		Logger:   ropts.Logger,
		Registry: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return &setup{r: r, reg: reg, g: g}
}

func newBackend(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", waitTimeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func synthetic(t *testing.T, s *setup, slot router.Slot) router.Measurement {
	t.Helper()
	m, ok := s.r.MeasureOf(slot, router.SyntheticTraffic, router.Filter{})
	if !ok {
		t.Fatal("no synthetic measurement")
	}
	return m
}

// recorder is an instance that records what it gets.
type recorder struct {
	mu   sync.Mutex
	seen []string // "METHOD /path body marked-synthetic host"
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	rec.seen = append(rec.seen, r.Method+" "+r.URL.Path+" "+string(b)+" "+r.Header.Get(router.HeaderSynthetic)+" "+r.Host)
	rec.mu.Unlock()
	if r.URL.Path == "/fail" {
		w.WriteHeader(http.StatusInternalServerError)
	}
}

func (rec *recorder) count() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.seen)
}

// Both targeted slots get the requests in turn, marked, through the
// router; only the synthetic meters count them; untargeting stops them.
func TestGeneratorHTTP(t *testing.T) {
	blue, green := &recorder{}, &recorder{}
	s := newSetup(t, router.Options{}, config.Synthetic{
		Rate: 50, Timeout: config.Duration(5 * time.Second),
		Requests: []config.SyntheticRequest{
			{Method: "GET", Path: "/a"},
			{Method: "POST", Path: "/fail", Body: `{"x":1}`, Headers: map[string]string{"Content-Type": "application/json"}},
		},
	}, map[router.Slot][]string{router.Blue: {newBackend(t, blue)}, router.Green: {newBackend(t, green)}})

	s.g.Target("green", "blue")
	waitFor(t, "10 requests on each slot", func() bool { return blue.count() >= 10 && green.count() >= 10 })
	s.g.Target()
	waitFor(t, "the senders to stop", func() bool { return s.g.senders.Load() == 0 })

	for slot, rec := range map[router.Slot]*recorder{router.Blue: blue, router.Green: green} {
		rec.mu.Lock()
		seen := append([]string(nil), rec.seen...)
		rec.mu.Unlock()
		// In turn: as many of each (one more of the first when the
		// traffic stopped between the two).
		var gets, posts int
		for _, line := range seen {
			switch line {
			case "GET /a  1 127.0.0.1:8080":
				gets++
			case `POST /fail {"x":1} 1 127.0.0.1:8080`:
				posts++
			default:
				t.Errorf("%s got %q", slot, line)
			}
		}
		if gets-posts != 0 && gets-posts != 1 {
			t.Errorf("%s: %d GETs and %d POSTs, want them in turn", slot, gets, posts)
		}
		m := synthetic(t, s, slot)
		if int(m.Requests) != len(seen) || int(m.Errors) != posts {
			t.Errorf("%s: %d requests seen, measured %d with %d errors; want the %d POSTs as errors", slot, len(seen), m.Requests, m.Errors, posts)
		}
		if u := s.r.Measure(slot); u.Requests != 0 {
			t.Errorf("%s: %d user requests measured", slot, u.Requests)
		}
		if got := testutil.ToFloat64(s.g.requests.WithLabelValues(string(slot), "500")); int(got) != posts {
			t.Errorf("%s: bluegreen_synthetic_requests_total{code=500} = %v, want %d", slot, got, posts)
		}
	}
	n, err := testutil.GatherAndCount(s.reg, "bluegreen_requests_total")
	if err != nil || n != 0 {
		t.Errorf("bluegreen_requests_total has %d series (%v), want none", n, err)
	}
	// Stopped: nothing more is sent (every sender and its requests ended).
	if got := synthetic(t, s, router.Blue).Requests; int(got) != blue.count() {
		t.Errorf("blue: %d measured, %d seen", got, blue.count())
	}
}

// An mcp request opens one session per slot with the official SDK's
// server behind two instances per slot, calls the tool through it, counts
// tool errors inside HTTP 200, and ends the session with DELETE.
func TestGeneratorMCP(t *testing.T) {
	var inits, deletes, calls atomic.Int64
	instance := func(slot router.Slot) string {
		srv := mcp.NewServer(&mcp.Implementation{Name: string(slot), Version: "1"}, nil)
		type in struct {
			Q string `json:"q"`
		}
		mcp.AddTool(srv, &mcp.Tool{Name: "search"}, func(_ context.Context, _ *mcp.CallToolRequest, args in) (*mcp.CallToolResult, any, error) {
			calls.Add(1)
			return &mcp.CallToolResult{
				Content: []mcp.Content{&mcp.TextContent{Text: "found " + args.Q}},
				IsError: slot == router.Green, // green's release is broken
			}, nil, nil
		})
		h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
		return newBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.Method == http.MethodDelete:
				deletes.Add(1)
			case r.Header.Get("Mcp-Session-Id") == "" && r.Method == http.MethodPost:
				inits.Add(1)
			}
			h.ServeHTTP(w, r)
		}))
	}
	search := router.Filter{MCPMethod: "tools/call", MCPTool: "search"}
	s := newSetup(t, router.Options{MCPSessions: true, MCPErrors: true, Filters: []router.Filter{search}}, config.Synthetic{
		Rate: 40, Timeout: config.Duration(5 * time.Second),
		Requests: []config.SyntheticRequest{
			{MCP: &config.SyntheticMCP{Path: "/mcp", Method: "tools/call", Tool: "search", Arguments: map[string]any{"q": "shoes"}}},
		},
	}, map[router.Slot][]string{
		router.Blue:  {instance(router.Blue), instance(router.Blue)},
		router.Green: {instance(router.Green), instance(router.Green)},
	})

	s.g.Target("green", "blue")
	measured := func(slot router.Slot) router.Measurement {
		m, _ := s.r.MeasureOf(slot, router.SyntheticTraffic, search)
		return m
	}
	waitFor(t, "20 tool calls on each slot", func() bool {
		return measured(router.Blue).Requests >= 20 && measured(router.Green).Requests >= 20
	})
	s.g.Target()
	waitFor(t, "the senders to stop", func() bool { return s.g.senders.Load() == 0 })

	b, g := measured(router.Blue), measured(router.Green)
	if b.Errors != 0 || g.Errors != g.Requests || g.MCPErrors != g.Requests {
		t.Errorf("tool calls: blue %d with %d errors, green %d with %d errors (%d MCP); want none on blue, all on green",
			b.Requests, b.Errors, g.Requests, g.Errors, g.MCPErrors)
	}
	if got := calls.Load(); got != int64(b.Requests+g.Requests) {
		t.Errorf("the tool ran %d times for %d calls measured: calls lost on the way", got, b.Requests+g.Requests)
	}
	// One session per slot: server/discover (this session-based server
	// does not list the stateless revision) and initialize, then
	// notifications/initialized once, every call in the session (a call on
	// the wrong instance would be a 404 and a new initialize), one DELETE
	// at the end.
	if got := inits.Load(); got != 4 {
		t.Errorf("%d requests without a session id, want server/discover and initialize once per slot", got)
	}
	if got := deletes.Load(); got != 2 {
		t.Errorf("%d DELETEs, want one per slot", got)
	}
	all := synthetic(t, s, router.Green)
	if all.Requests != g.Requests+4 { // server/discover, initialize, notifications/initialized, DELETE
		t.Errorf("green: %d synthetic requests, %d calls; want the calls and 4 session requests", all.Requests, g.Requests)
	}
	if u := s.r.Measure(router.Green); u.Requests != 0 {
		t.Errorf("green: %d user requests measured", u.Requests)
	}
}

// A server that speaks only the stateless revision (2026-07-28) gets the
// synthetic tool calls without initialize or session: server/discover
// once, then each call with the _meta triple, all answered; it used to
// refuse every call (the client offered 2025-11-25 at initialize).
func TestGeneratorMCPStateless(t *testing.T) {
	var discovers, initializes, calls, refused atomic.Int64
	srv := mcp.NewServer(&mcp.Implementation{Name: "blue", Version: "1"}, &mcp.ServerOptions{SupportedProtocolVersions: []string{"2026-07-28"}})
	type in struct {
		Q string `json:"q"`
	}
	mcp.AddTool(srv, &mcp.Tool{Name: "search"}, func(_ context.Context, _ *mcp.CallToolRequest, args in) (*mcp.CallToolResult, any, error) {
		calls.Add(1)
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "found " + args.Q}}}, nil, nil
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: true})
	backend := newBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("Mcp-Method") {
		case "server/discover":
			discovers.Add(1)
		case "initialize":
			initializes.Add(1)
		}
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if rec.code >= 400 {
			refused.Add(1)
		}
	}))
	search := router.Filter{MCPMethod: "tools/call", MCPTool: "search"}
	s := newSetup(t, router.Options{MCPSessions: true, MCPErrors: true, Filters: []router.Filter{search}}, config.Synthetic{
		Rate: 40, Timeout: config.Duration(5 * time.Second),
		Requests: []config.SyntheticRequest{
			{MCP: &config.SyntheticMCP{Path: "/mcp", Method: "tools/call", Tool: "search", Arguments: map[string]any{"q": "shoes"}}},
		},
	}, map[router.Slot][]string{router.Blue: {backend}})
	s.g.Target("blue")
	waitFor(t, "10 tool calls", func() bool { return calls.Load() >= 10 })
	s.g.Target()
	waitFor(t, "the sender to stop", func() bool { return s.g.senders.Load() == 0 })
	m, _ := s.r.MeasureOf(router.Blue, router.SyntheticTraffic, search)
	if m.Errors != 0 || m.Requests == 0 || int64(m.Requests) != calls.Load() {
		t.Errorf("tool calls: %d measured with %d errors, %d run by the server; want all answered", m.Requests, m.Errors, calls.Load())
	}
	if d, i, r := discovers.Load(), initializes.Load(), refused.Load(); d != 1 || i != 0 || r != 0 {
		t.Errorf("server/discover %d, initialize %d, refused %d; want 1, 0, 0", d, i, r)
	}
}

// statusRecorder notes the status a handler answered.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// A slot that does not answer holds at most MaxInFlight synthetic
// requests; each ends at the timeout, measured as an error of the slot.
func TestGeneratorBounded(t *testing.T) {
	var inflight, peak atomic.Int64
	hang := newBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-r.Context().Done()
	}))
	s := newSetup(t, router.Options{}, config.Synthetic{
		Rate: 100, Timeout: config.Duration(time.Second),
		Requests: []config.SyntheticRequest{{Method: "GET", Path: "/"}},
	}, map[router.Slot][]string{router.Green: {hang}})
	s.g.Target("green")
	waitFor(t, "skipped ticks", func() bool { return testutil.ToFloat64(s.g.skipped.WithLabelValues("green")) >= 10 })
	waitFor(t, "timed-out requests", func() bool { return synthetic(t, s, router.Green).Requests >= 10 })
	s.g.Target()
	waitFor(t, "the sender to stop", func() bool { return s.g.senders.Load() == 0 })
	if p := peak.Load(); p > MaxInFlight {
		t.Errorf("%d requests in flight at once, want at most %d", p, MaxInFlight)
	}
	m := synthetic(t, s, router.Green)
	bounds := router.LatencyBounds()
	var early uint64
	for i, c := range m.Latency {
		if bounds[i] < 900*time.Millisecond {
			early += c
		}
	}
	// A timed-out synthetic request is an error of the slot (504), not a
	// client that went away (499, which analysis does not count).
	if m.Errors != m.Requests || early != 0 {
		t.Errorf("timed-out requests: %d errors of %d, %d ended before the timeout; want every one an error at the timeout", m.Errors, m.Requests, early)
	}
	if got := testutil.ToFloat64(s.g.requests.WithLabelValues("green", "504")); got != float64(m.Requests) {
		t.Errorf("504 counted %v times for %d requests", got, m.Requests)
	}
}

func TestNew(t *testing.T) {
	h := func(slot.Slot) http.Handler { return http.NotFoundHandler() }
	ok := config.Synthetic{Rate: 1, Timeout: config.Duration(time.Second), Requests: []config.SyntheticRequest{{Method: "GET", Path: "/"}}}
	for name, o := range map[string]Options{
		"no handler": {Config: ok},
		"rate":       {Config: config.Synthetic{Rate: 1000, Timeout: ok.Timeout, Requests: ok.Requests}, Handler: h},
		"timeout":    {Config: config.Synthetic{Rate: 1, Requests: ok.Requests}, Handler: h},
		"requests":   {Config: config.Synthetic{Rate: 1, Timeout: ok.Timeout}, Handler: h},
		"empty":      {Config: config.Synthetic{Rate: 1, Timeout: ok.Timeout, Requests: []config.SyntheticRequest{{}}}, Handler: h},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: New accepted %+v", name, o.Config)
		}
	}
	if _, err := New(Options{Config: ok, Handler: h}); err != nil {
		t.Error(err)
	}
}
