package router

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// bluegreen_mcp_requests_total: one count per MCP call with its outcome;
// the method label is one of MCP's methods or "other", the tool label is
// bounded (beyond it, and for names the server did not recognise,
// "other"); GETs and analysis' synthetic requests are not counted.
func TestMCPRequestsMetric(t *testing.T) {
	tr := newTestRouter(t, Options{MCPMetrics: true, MCPToolLabels: 2}, false)
	backend := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		body := string(b)
		switch {
		case strings.Contains(body, `"boom"`):
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		case strings.Contains(body, `"unknown"`):
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"unknown tool"}}`)
		case strings.Contains(body, `"broken"`):
			// An event stream with a progress notification first.
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n"+
				"data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[],\"isError\":true}}\n\n")
		case strings.Contains(body, "notifications/"):
			w.WriteHeader(http.StatusAccepted)
		default:
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{"content":[]}}`)
		}
	}))
	tr.SetBackends(Blue, []string{backend}, true)

	call := func(h http.Handler, body string, header http.Header) int {
		t.Helper()
		req := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range header {
			req.Header[k] = v
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	tool := func(name string) string {
		return `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"` + name + `","arguments":{}}}`
	}
	prod := tr.Production()
	call(prod, tool("unknown"), nil) // not recognised: no label
	call(prod, tool("a"), nil)
	call(prod, tool("a"), nil)
	call(prod, tool("broken"), nil) // a tool error: recognised
	call(prod, tool("c"), nil)      // beyond two tools
	call(prod, tool("boom"), nil)
	call(prod, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, nil)
	call(prod, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, nil)
	call(prod, `{"jsonrpc":"2.0","id":3,"method":"x/made-up"}`, nil)
	// 2026-07-28 headers decide without the body.
	call(prod, `not json`, http.Header{"Mcp-Method": {"tools/call"}, "Mcp-Name": {"a"}})
	// Not counted: a GET, a batch, analysis' own requests.
	if code, _, _ := get(t, tr.prod.Client(), tr.prod.URL+"/mcp", nil); code != http.StatusOK {
		t.Fatalf("GET: %d", code)
	}
	call(prod, `[`+tool("a")+`]`, nil)
	call(tr.Synthetic(Blue), tool("a"), nil)

	want := `
# HELP bluegreen_mcp_requests_total MCP calls proxied, by slot, JSON-RPC method, tool (tools/call only; beyond the first tools seen, "other") and outcome (ok, jsonrpc_error, tool_error, http_error).
# TYPE bluegreen_mcp_requests_total counter
bluegreen_mcp_requests_total{method="notifications/initialized",outcome="ok",slot="blue",tool=""} 1
bluegreen_mcp_requests_total{method="other",outcome="ok",slot="blue",tool=""} 1
bluegreen_mcp_requests_total{method="tools/call",outcome="http_error",slot="blue",tool="other"} 1
bluegreen_mcp_requests_total{method="tools/call",outcome="jsonrpc_error",slot="blue",tool="other"} 1
bluegreen_mcp_requests_total{method="tools/call",outcome="ok",slot="blue",tool="a"} 3
bluegreen_mcp_requests_total{method="tools/call",outcome="ok",slot="blue",tool="other"} 1
bluegreen_mcp_requests_total{method="tools/call",outcome="tool_error",slot="blue",tool="broken"} 1
bluegreen_mcp_requests_total{method="tools/list",outcome="ok",slot="blue",tool=""} 1
`
	if err := testutil.GatherAndCompare(tr.reg, strings.NewReader(want), "bluegreen_mcp_requests_total"); err != nil {
		t.Fatal(err)
	}

	// The router's own answer (no instance) is an HTTP error too.
	tr.SetBackends(Blue, nil, false)
	if code := call(prod, tool("a"), nil); code != http.StatusServiceUnavailable {
		t.Fatalf("no instance: %d", code)
	}
	if got := testutil.ToFloat64(tr.mcpMetrics.requests.WithLabelValues("blue", "tools/call", "a", "http_error")); got != 1 {
		t.Fatalf("http errors of a: %v, want 1", got)
	}
}

// Off by default: nothing is read ahead, nothing registered.
func TestMCPRequestsMetricOff(t *testing.T) {
	tr := newTestRouter(t, Options{}, false)
	if tr.mcpMetrics != nil || tr.readsMCP(kindUser) {
		t.Fatal("MCP metrics on without Options.MCPMetrics")
	}
	if n, err := testutil.GatherAndCount(tr.reg, "bluegreen_mcp_requests_total"); err != nil || n != 0 {
		t.Fatalf("metric registered: %d, %v", n, err)
	}
}

// BenchmarkMCPCall measures small JSON-RPC tools/call POSTs through the
// production handler, with and without the MCP request metric (which
// reads the body ahead and inspects the answer), and with the 2026-07-28
// headers that spare the body read.
// Run: go test -run '^$' -bench MCPCall -benchtime 3s ./internal/router/
func BenchmarkMCPCall(b *testing.B) {
	answer := []byte(`{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"2 found"}]}}`)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(answer)
	}))
	b.Cleanup(backend.Close)
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{"q":"x"}}}`
	for _, c := range []struct {
		name    string
		metrics bool
		headers bool
	}{{"off", false, false}, {"metrics-body", true, false}, {"metrics-headers", true, true}} {
		tr := newTestRouter(b, Options{MCPMetrics: c.metrics}, false)
		tr.SetBackends(Blue, []string{backend.Listener.Addr().String()}, true)
		b.Run(c.name, func(b *testing.B) {
			transport := &http.Transport{MaxIdleConnsPerHost: 1024}
			b.Cleanup(transport.CloseIdleConnections)
			client := &http.Client{Transport: transport}
			b.SetParallelism(8)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, err := http.NewRequest(http.MethodPost, tr.prod.URL+"/mcp", strings.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					req.Header.Set("Content-Type", "application/json")
					if c.headers {
						req.Header.Set("Mcp-Method", "tools/call")
						req.Header.Set("Mcp-Name", "search")
					}
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					if err := resp.Body.Close(); err != nil || resp.StatusCode != http.StatusOK {
						b.Errorf("status %d, %v", resp.StatusCode, err)
					}
				}
			})
		})
	}
}
