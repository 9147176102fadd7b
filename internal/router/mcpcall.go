package router

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
)

// MCP request headers of Streamable HTTP 2026-07-28: the JSON-RPC method,
// and the name of what it acts on (the tool of tools/call, the prompt of
// prompts/get, the URI of resources/read).
const (
	headerMCPMethod = "Mcp-Method"
	headerMCPName   = "Mcp-Name"
)

// mcpToolsCall is the JSON-RPC method of an MCP tool call.
const mcpToolsCall = "tools/call"

// mcpPeekLimit bounds how much of a request body readMCPRequest reads ahead.
const mcpPeekLimit = 64 << 10

// mcpRequest is what a request says of the MCP call it makes. The zero
// mcpRequest is a request that is not (recognisably) an MCP call.
type mcpRequest struct {
	// Method is the JSON-RPC method, such as tools/call.
	Method string
	// Name is the tool of tools/call, the prompt of prompts/get, the URI
	// of resources/read; "" for other methods.
	Name string
}

// Tool is the tool a tools/call calls, "" for any other request.
func (c mcpRequest) Tool() string {
	if c.Method != mcpToolsCall {
		return ""
	}
	return c.Name
}

// readMCPRequest finds the MCP method and name of req, a request about to be
// proxied. Only a POST can be an MCP call. The Mcp-Method and Mcp-Name
// headers (sent by clients of the 2026-07-28 revision) answer without
// touching the body. Otherwise, for a POST of application/json whose
// length is unknown or at most mcpPeekLimit, it reads up to mcpPeekLimit
// bytes of the body ahead and parses one JSON-RPC 2.0 request from them (a
// batch, a larger body or anything else gives the zero mcpRequest).
//
// body is what to forward instead of req.Body: the bytes read ahead, then
// the rest, so the instance gets the body unchanged; it is req.Body itself
// when nothing was read. The read ahead waits for the body (up to the
// limit) before the request is forwarded, which JSON-RPC clients send
// whole; it is the only cost, paid only by JSON POSTs without the headers.
func readMCPRequest(req *http.Request) (call mcpRequest, body io.ReadCloser) {
	body = req.Body
	if req.Method != http.MethodPost {
		return mcpRequest{}, body
	}
	if m := req.Header.Get(headerMCPMethod); m != "" {
		return mcpRequest{Method: m, Name: req.Header.Get(headerMCPName)}, body
	}
	if body == nil || body == http.NoBody || req.ContentLength > mcpPeekLimit {
		return mcpRequest{}, body
	}
	if mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return mcpRequest{}, body
	}
	ahead, err := io.ReadAll(io.LimitReader(body, mcpPeekLimit+1))
	body = &peekedBody{Reader: io.MultiReader(bytes.NewReader(ahead), body), body: body}
	if err != nil || len(ahead) > mcpPeekLimit {
		// The instance gets what was read and then the same error (or the
		// rest of a long body).
		return mcpRequest{}, body
	}
	return parseMCPRequest(ahead), body
}

// peekedBody is a request body with bytes read ahead put back in front.
type peekedBody struct {
	io.Reader
	body io.ReadCloser
}

func (p *peekedBody) Close() error { return p.body.Close() }

// parseMCPRequest reads the method and name of one JSON-RPC 2.0 request.
// Keys match exactly and the last of duplicate keys wins, as in the MCP
// servers behind the router: encoding/json's struct decoding would also
// take "Method" or "METHOD" for "method" and count a call the server never
// sees.
func parseMCPRequest(b []byte) mcpRequest {
	msg, ok := exactObject(b, "jsonrpc", "method", "params")
	if !ok || jsonString(msg[0]) != "2.0" {
		return mcpRequest{}
	}
	call := mcpRequest{Method: jsonString(msg[1])}
	if call.Method == "" {
		return mcpRequest{}
	}
	key := ""
	switch call.Method {
	case mcpToolsCall, "prompts/get":
		key = "name"
	case "resources/read":
		key = "uri"
	default:
		return call
	}
	if params, ok := exactObject(msg[2], key); ok {
		call.Name = jsonString(params[0])
	}
	return call
}

// exactObject returns the raw values of keys in the JSON object b, matched
// exactly, the last of duplicates winning; ok is false when b is not valid
// JSON or not an object (null counts as an empty object, as it does for
// encoding/json).
func exactObject(b []byte, keys ...string) (vals []json.RawMessage, ok bool) {
	if !json.Valid(b) {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return nil, false
	}
	vals = make([]json.RawMessage, len(keys))
	if tok == nil {
		return vals, true
	}
	if d, isDelim := tok.(json.Delim); !isDelim || d != '{' {
		return nil, false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		k, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		for i, want := range keys {
			if k == want {
				vals[i] = v
			}
		}
	}
	return vals, true
}

// jsonString is the JSON string v, or "" when v is anything else.
func jsonString(v json.RawMessage) string {
	var s string
	if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &s) != nil {
		return ""
	}
	return s
}
