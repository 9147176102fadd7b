package router

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// Errors inside HTTP 200 answers to MCP requests count on the meter; the
// body reaches the client unchanged.
func TestMCPErrorsInside200(t *testing.T) {
	big := `{"jsonrpc":"2.0","id":9,"error":{"code":1,"message":"` + strings.Repeat("x", mcpInspectLimit) + `"}}`
	bodies := map[string]struct{ ctype, body string }{
		"/rpc-error":   {"application/json", `{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"no such method"}}`},
		"/tool-error":  {"text/event-stream", "event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":2,\r\ndata: \"result\":{\"content\":[],\"isError\":true}}\r\n\r\n"},
		"/tool-ok":     {"text/event-stream; charset=utf-8", "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"isError\":false}}\n\n"},
		"/ok":          {"application/json", `{"jsonrpc":"2.0","id":4,"result":{"tools":[]}}`},
		"/batch-error": {"application/json", `[{"jsonrpc":"2.0","id":5,"result":{}},{"jsonrpc":"2.0","id":6,"error":{"code":1,"message":"x"}}]`},
		"/rest-error":  {"application/json", `{"error":"not JSON-RPC"}`},
		"/null-error":  {"application/json", `{"jsonrpc":"2.0","id":7,"result":{},"error":null}`},
		"/big-error":   {"application/json", big},
	}
	backend := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := bodies[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", b.ctype)
		half := len(b.body) / 2 // two writes: the inspector sees split lines
		_, _ = io.WriteString(w, b.body[:half])
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		_, _ = io.WriteString(w, b.body[half:])
	}))
	for _, tc := range []struct {
		name      string
		on        bool
		method    string
		path      string
		wantError bool
	}{
		{"json-rpc error", true, "POST", "/rpc-error", true},
		{"tool isError in SSE", true, "POST", "/tool-error", true},
		{"tool ok in SSE", true, "POST", "/tool-ok", false},
		{"result", true, "POST", "/ok", false},
		{"batch with an error", true, "POST", "/batch-error", true},
		{"not JSON-RPC", true, "POST", "/rest-error", false},
		{"error null", true, "POST", "/null-error", false},
		{"beyond the inspection limit", true, "POST", "/big-error", false},
		{"GET is not MCP", true, "GET", "/rpc-error", false},
		{"off", false, "POST", "/rpc-error", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTestRouter(t, Options{MCPErrors: tc.on}, false)
			tr.SetBackends(Blue, []string{backend}, true)
			req, err := http.NewRequest(tc.method, tr.prod.URL+tc.path, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call"}`))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := tr.prod.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(resp.Body)
			if cerr := resp.Body.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != bodies[tc.path].body {
				t.Errorf("body changed on the way: %q", got)
			}
			// The answer is chunked: the client has its end only after the
			// proxy read the backend's body to its end.
			m := tr.Measure(Blue)
			wantErrs := uint64(0)
			if tc.wantError {
				wantErrs = 1
			}
			if m.Requests != 1 || m.Errors != wantErrs || m.MCPErrors != wantErrs {
				t.Errorf("measured %d requests, %d errors (%d MCP); want 1 and %d", m.Requests, m.Errors, m.MCPErrors, wantErrs)
			}
		})
	}
}
