package router

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// FuzzMCPRequest checks the MCP body peek against any JSON POST body: the
// instance gets the body unchanged, the call found is what the parse of
// the whole body says (none past the peek limit), and a call is found only
// in a JSON-RPC 2.0 request whose method and name a decoder with exact key
// names (what MCP servers use) reads the same way.
func FuzzMCPRequest(f *testing.F) {
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{}}}`), true)
	f.Fuzz(func(t *testing.T, body []byte, knownLength bool) {
		req, err := http.NewRequest(http.MethodPost, "http://app/mcp", io.NopCloser(bytes.NewReader(body)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.ContentLength = -1
		if knownLength {
			req.ContentLength = int64(len(body))
		}
		call, fwd := readMCPRequest(req)
		got, err := io.ReadAll(fwd)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("forwarded body %q, %v; want %q", got, err, body)
		}
		want := mcpRequest{}
		if len(body) <= mcpPeekLimit {
			want = parseMCPRequest(body)
		}
		if call != want {
			t.Fatalf("readMCPRequest = %+v, want %+v", call, want)
		}
		if call == (mcpRequest{}) {
			return
		}
		if exact := exactMCPRequest(body); call != exact {
			t.Fatalf("body %q: router reads %+v, an exact-key decoder %+v", body, call, exact)
		}
	})
}

// exactMCPRequest is the method and name of body as a decoder that matches
// key names exactly, and takes the last of duplicate keys, reads them.
func exactMCPRequest(b []byte) mcpRequest {
	var msg map[string]json.RawMessage
	if json.Unmarshal(b, &msg) != nil {
		return mcpRequest{}
	}
	str := func(m map[string]json.RawMessage, k string) string {
		var s string
		if json.Unmarshal(m[k], &s) != nil {
			return ""
		}
		return s
	}
	if str(msg, "jsonrpc") != "2.0" || str(msg, "method") == "" {
		return mcpRequest{}
	}
	call := mcpRequest{Method: str(msg, "method")}
	var params map[string]json.RawMessage
	if json.Unmarshal(msg["params"], &params) != nil {
		return call
	}
	switch call.Method {
	case mcpToolsCall, "prompts/get":
		call.Name = str(params, "name")
	case "resources/read":
		call.Name = str(params, "uri")
	}
	return call
}
