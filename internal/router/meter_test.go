package router

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLatencyBuckets(t *testing.T) {
	bounds := LatencyBounds()
	for i := 1; i < len(bounds); i++ {
		if bounds[i] <= bounds[i-1] {
			t.Fatalf("bounds not ascending at %d: %s, %s", i, bounds[i-1], bounds[i])
		}
	}
	for _, us := range []uint64{0, 1, 15, 16, 17, 31, 32, 33, 100, 999, 1000, 1001, 123456, 5e6, 1 << 31} {
		b := bucketOf(us)
		lower := uint64(0)
		if b > 0 {
			lower = bucketUpper(b - 1)
		}
		if us < lower || us >= bucketUpper(b) {
			t.Errorf("%dµs in bucket %d = [%d, %d)", us, b, lower, bucketUpper(b))
		}
		if width := bucketUpper(b) - lower; lower >= subBuckets && width*subBuckets > lower {
			t.Errorf("bucket %d = [%d, %d) wider than 1/16 of its bound", b, lower, bucketUpper(b))
		}
	}
	if b := bucketOf(1 << 62); b != latencyBuckets-1 {
		t.Errorf("huge latency in bucket %d, want the last (%d)", b, latencyBuckets-1)
	}
}

// The meter counts answers per slot: requests, 5xx and connection
// failures as errors, and latency to the response headers. Preview
// requests (listener or header) are not measured: they verify a release,
// they are not user traffic.
func TestMeasure(t *testing.T) {
	tr := newTestRouter(t, Options{PreviewHeader: "X-Preview", PreviewSecret: "0123456789abcdef"}, false)
	blue := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/fail":
			w.WriteHeader(http.StatusInternalServerError)
		case "/missing":
			w.WriteHeader(http.StatusNotFound)
		case "/slow":
			time.Sleep(20 * time.Millisecond) // the latency measured, not synchronisation
		}
	}))
	tr.SetBackends(Blue, []string{blue}, true)
	tr.SetBackends(Green, []string{closedAddr(t)}, true)
	if err := tr.SetTable(LiveTable(Blue)); err != nil {
		t.Fatal(err)
	}
	before := tr.Measure(Blue)
	for _, p := range []string{"/", "/", "/fail", "/missing", "/slow"} {
		get(t, tr.prod.Client(), tr.prod.URL+p, nil)
	}
	// Preview: green refuses connections, so each of these is a 502 that
	// would count as an error if it were measured.
	if code, _, _ := get(t, tr.preview.Client(), tr.preview.URL+"/", nil); code != http.StatusBadGateway {
		t.Fatalf("preview listener: %d, want 502 from green", code)
	}
	if code, _, _ := get(t, tr.prod.Client(), tr.prod.URL+"/", http.Header{"X-Preview": {"0123456789abcdef"}}); code != http.StatusBadGateway {
		t.Fatalf("preview header: %d, want 502 from green", code)
	}

	m := tr.Measure(Blue)
	if got := m.Requests - before.Requests; got != 5 {
		t.Errorf("blue requests = %d, want 5", got)
	}
	if m.Errors != 1 {
		t.Errorf("blue errors = %d, want 1 (the 500; a 404 is not an error)", m.Errors)
	}
	var n, slow uint64
	bounds := LatencyBounds()
	for i, c := range m.Latency {
		n += c
		if bounds[i] > 20*time.Millisecond {
			slow += c
		}
	}
	if n != 5 || slow != 1 {
		t.Errorf("blue latency: %d samples, %d at 20ms or more; want 5 and 1", n, slow)
	}
	for _, tt := range []Traffic{UserTraffic, SyntheticTraffic} {
		if g, _ := tr.MeasureOf(Green, tt, Filter{}); g.Requests != 0 || g.Errors != 0 {
			t.Errorf("green traffic %d: %d requests, %d errors; want the preview requests not measured", tt, g.Requests, g.Errors)
		}
	}
	// Production requests to green are measured.
	if err := tr.SetTable(LiveTable(Green)); err != nil {
		t.Fatal(err)
	}
	get(t, tr.prod.Client(), tr.prod.URL+"/", nil)
	if g := tr.Measure(Green); g.Requests != 1 || g.Errors != 1 {
		t.Errorf("green: %d requests, %d errors; want the failed connection as 1 and 1", g.Requests, g.Errors)
	}
	if z := tr.Measure("red"); z.Requests != 0 || z.Latency != nil {
		t.Errorf("invalid slot measured: %+v", z)
	}
	if _, ok := tr.MeasureOf(Blue, UserTraffic, Filter{PathPrefix: "/x"}); ok {
		t.Error("a filter the router was not given is measured")
	}
}

// Each filter given to the router has its own counts: by path prefix, by
// MCP method and tool from the 2026-07-28 headers or from the body, which
// reaches the instance unchanged.
func TestMeasureFilters(t *testing.T) {
	apiPrefix := Filter{PathPrefix: "/api/"}
	toolsList := Filter{MCPMethod: "tools/list"}
	search := Filter{MCPMethod: "tools/call", MCPTool: "search"}
	mcpSearch := Filter{PathPrefix: "/mcp", MCPMethod: "tools/call", MCPTool: "search"}
	tr := newTestRouter(t, Options{MCPErrors: true, Filters: []Filter{apiPrefix, toolsList, search, mcpSearch}}, false)
	var (
		mu     sync.Mutex
		bodies []string
	)
	backend := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
		}
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		if strings.Contains(string(b), `"fail"`) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{"content":[],"isError":true}}`)
			return
		}
		if r.URL.Path == "/api/broken" {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	tr.SetBackends(Blue, []string{backend}, true)

	long := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{"pad":"` + strings.Repeat("x", mcpPeekLimit) + `"}}}`
	type call struct {
		method, path, ctype, body string
		header                    http.Header
	}
	for _, c := range []call{
		{"GET", "/api/items", "", "", nil},
		{"GET", "/api/broken", "", "", nil},
		{"GET", "/apix", "", "", nil},
		{"POST", "/mcp", "application/json", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, nil},
		{"POST", "/mcp", "application/json; charset=utf-8", `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"search","arguments":{"q":"x"}}}`, nil},
		{"POST", "/mcp", "application/json", `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"search","arguments":{"q":"fail"}}}`, nil},
		{"POST", "/mcp", "application/json", `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"other"}}`, nil},
		// The headers decide without the body (which says otherwise here).
		{"POST", "/rpc", "application/json", `{"jsonrpc":"2.0","id":5,"method":"tools/list"}`, http.Header{"Mcp-Method": {"tools/call"}, "Mcp-Name": {"search"}}},
		// Not MCP: a GET, a batch, text, too long to read ahead.
		{"GET", "/mcp", "application/json", "", http.Header{}},
		{"POST", "/mcp", "application/json", `[{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"search"}}]`, nil},
		{"POST", "/mcp", "text/plain", `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"search"}}`, nil},
		{"POST", "/mcp", "application/json", long, nil},
	} {
		var body io.Reader
		if c.body != "" {
			body = strings.NewReader(c.body)
		}
		req, err := http.NewRequest(c.method, tr.prod.URL+c.path, body)
		if err != nil {
			t.Fatal(err)
		}
		if c.ctype != "" {
			req.Header.Set("Content-Type", c.ctype)
		}
		for k, v := range c.header {
			req.Header[k] = v
		}
		resp, err := tr.prod.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}

	for _, tc := range []struct {
		f              Filter
		requests, errs uint64
	}{
		{Filter{}, 12, 2},
		{apiPrefix, 2, 1},
		{toolsList, 1, 0},
		{search, 3, 1}, // the q:x call, the failing one, the headers
		{mcpSearch, 2, 1},
	} {
		m, ok := tr.MeasureOf(Blue, UserTraffic, tc.f)
		if !ok || m.Requests != tc.requests || m.Errors != tc.errs {
			t.Errorf("filter %+v: %d requests, %d errors (ok %v); want %d and %d", tc.f, m.Requests, m.Errors, ok, tc.requests, tc.errs)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 12 || bodies[4] != `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"search","arguments":{"q":"x"}}}` || bodies[11] != long {
		t.Errorf("bodies changed on the way (%d bodies)", len(bodies))
	}
}

func TestParseMCPRequest(t *testing.T) {
	for _, tc := range []struct {
		body string
		want mcpRequest
	}{
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{}}}`, mcpRequest{"tools/call", "search"}},
		{`{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"ui://w.html"}}`, mcpRequest{"resources/read", "ui://w.html"}},
		{`{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"p"}}`, mcpRequest{"prompts/get", "p"}},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, mcpRequest{Method: "tools/list"}},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["positional"]}`, mcpRequest{Method: "tools/call"}},
		{`{"jsonrpc":"1.0","method":"tools/call"}`, mcpRequest{}},
		{`{"method":"tools/call"}`, mcpRequest{}},
		{`[{"jsonrpc":"2.0","method":"tools/call"}]`, mcpRequest{}},
		{`not json`, mcpRequest{}},
	} {
		if got := parseMCPRequest([]byte(tc.body)); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.body, got, tc.want)
		}
	}
	if got := (mcpRequest{"tools/call", "search"}).Tool(); got != "search" {
		t.Errorf("tool = %q", got)
	}
	if got := (mcpRequest{"prompts/get", "p"}).Tool(); got != "" {
		t.Errorf("tool of a prompt = %q", got)
	}
}

func TestFilterOptions(t *testing.T) {
	many := make([]Filter, MaxFilters+1)
	for i := range many {
		many[i] = Filter{PathPrefix: fmt.Sprintf("/%d", i)}
	}
	for _, fs := range [][]Filter{{{}}, {{PathPrefix: "api"}}, {{MCPTool: "a"}, {MCPTool: "a"}}, many} {
		if _, err := New(Options{Filters: fs}); err == nil {
			t.Errorf("New accepted filters %v", fs[:min(len(fs), 2)])
		}
	}
}

// BenchmarkMCPFilter measures small MCP tool calls (JSON POSTs) through
// the production handler without filters and with a rule filter on the
// tool, which reads each body ahead.
// Run: go test -run '^$' -bench MCPFilter -benchtime 5s ./internal/router/
func BenchmarkMCPFilter(b *testing.B) {
	backend := newServer(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{"content":[],"isError":false}}`)
	}))
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{"q":"shoes"}}}`
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"no-filter", Options{MCPErrors: true}},
		{"mcp_tool-filter", Options{MCPErrors: true, Filters: []Filter{{MCPMethod: "tools/call", MCPTool: "search"}}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			tr := newTestRouter(b, tc.opts, false)
			tr.SetBackends(Blue, []string{backend}, true)
			transport := &http.Transport{MaxIdleConnsPerHost: 1024}
			b.Cleanup(transport.CloseIdleConnections)
			client := &http.Client{Transport: transport}
			b.SetParallelism(8)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Post(tr.prod.URL+"/mcp", "application/json", strings.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					if err := resp.Body.Close(); err != nil {
						b.Error(err)
					}
				}
			})
			if m, _ := tr.MeasureOf(Blue, UserTraffic, Filter{}); m.Requests == 0 {
				b.Error("nothing measured")
			}
		})
	}
}
