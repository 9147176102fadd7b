package synthetic

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"mime"
	"net/http"
	"slices"
	"sync"

	"github.com/bluegreen-dev/bluegreen/internal/config"
)

// mcpProtocolVersion is the Streamable HTTP revision offered at
// initialize; the server's answer decides the one used after.
const mcpProtocolVersion = "2025-11-25"

// mcpStateless is the stateless revision (SEP-2575): no initialize and no
// session, server/discover first, and every request carries the client's
// protocol version, info and capabilities in its params' _meta.
const mcpStateless = "2026-07-28"

// The _meta keys of a stateless request.
const (
	metaProtocolVersion    = "io.modelcontextprotocol/protocolVersion"
	metaClientInfo         = "io.modelcontextprotocol/clientInfo"
	metaClientCapabilities = "io.modelcontextprotocol/clientCapabilities"
)

// syntheticClient is how the synthetic client names itself.
var syntheticClient = map[string]any{"name": "bluegreen-synthetic", "version": "1"}

// withMeta returns params with the stateless _meta triple added (params
// itself is not changed).
func withMeta(params any) any {
	m := map[string]any{}
	if p, ok := params.(map[string]any); ok {
		for k, v := range p {
			m[k] = v
		}
	}
	meta := map[string]any{}
	if old, ok := m["_meta"].(map[string]any); ok {
		for k, v := range old {
			meta[k] = v
		}
	}
	meta[metaProtocolVersion] = mcpStateless
	meta[metaClientInfo] = syntheticClient
	meta[metaClientCapabilities] = map[string]any{}
	m["_meta"] = meta
	return m
}

// maxInitAnswer bounds how much of an initialize answer is read.
const maxInitAnswer = 64 << 10

// session is the MCP session of one mcp request on one slot.
type session struct {
	mu    sync.Mutex
	state sessionState
	// id is the Mcp-Session-Id the server issued ("" for a server
	// without sessions); version the protocol revision it answered.
	id      string
	version string
}

type sessionState int

const (
	sessionNone sessionState = iota
	sessionOpening
	sessionOpen
	sessionEnded
)

// claim decides what this turn does: open the session (first turn, or
// after the server lost it), call (open), or nothing (another turn is
// opening it, or the traffic stopped).
func (s *session) claim() (open bool, id, version string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case sessionNone:
		s.state = sessionOpening
		return true, "", "", true
	case sessionOpen:
		return false, s.id, s.version, true
	case sessionOpening, sessionEnded:
	}
	return false, "", "", false
}

// opened records the outcome of an initialize.
func (s *session) opened(ok bool, id, version string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != sessionOpening {
		return
	}
	if !ok {
		s.state = sessionNone
		return
	}
	s.state, s.id, s.version = sessionOpen, id, version
}

// lost forgets session id after the server answered 404 to it.
func (s *session) lost(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == sessionOpen && s.id == id {
		s.state, s.id = sessionNone, ""
	}
}

// end marks the session ended and returns the id to DELETE, if one is
// open.
func (s *session) end() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	open := s.state == sessionOpen
	s.state = sessionEnded
	return s.id, open
}

// mcpTurn sends one turn of an mcp request: the call, or, when the
// session is not open yet, initialize and notifications/initialized.
func (s *sender) mcpTurn(ctx context.Context, r config.SyntheticRequest, ss *session) {
	m := r.MCP
	open, id, version, ok := ss.claim()
	switch {
	case !ok:
		return
	case open:
		ss.opened(s.initialize(ctx, r))
		return
	}
	var params any = m.Params
	name := ""
	if m.Method == config.MCPToolsCall {
		args := m.Arguments
		if args == nil {
			args = map[string]any{}
		}
		params, name = map[string]any{"name": m.Tool, "arguments": args}, m.Tool
	}
	if version == mcpStateless {
		params = withMeta(params)
	}
	body, err := rpcRequest(s.ids.Add(1), m.Method, params)
	if err != nil {
		s.g.log.Error("synthetic mcp request", "slot", s.slot, "method", m.Method, "error", err)
		return
	}
	a := s.do(ctx, http.MethodPost, m.Path, mcpHeaders(r.Headers, id, version, m.Method, name), body, 0)
	if a.code == http.StatusNotFound && id != "" {
		ss.lost(id) // the server lost the session: the next turn opens one
	}
}

// initialize opens a session. As the SDK's clients do, it asks
// server/discover first: a server that serves the stateless revision is
// then talked to without a session (version mcpStateless, id ""); any
// other answer falls back to initialize, then notifications/initialized.
// ok is false when the server refused.
func (s *sender) initialize(ctx context.Context, r config.SyntheticRequest) (ok bool, id, version string) {
	m := r.MCP
	if s.discover(ctx, r) {
		return true, "", mcpStateless
	}
	body, err := rpcRequest(s.ids.Add(1), "initialize", map[string]any{
		"protocolVersion": mcpProtocolVersion,
		"capabilities":    map[string]any{},
		"clientInfo":      syntheticClient,
	})
	if err != nil {
		s.g.log.Error("synthetic mcp initialize", "slot", s.slot, "error", err)
		return false, "", ""
	}
	a := s.do(ctx, http.MethodPost, m.Path, mcpHeaders(r.Headers, "", "", "", ""), body, maxInitAnswer)
	if a.code/100 != 2 {
		return false, "", ""
	}
	id = a.header.Get("Mcp-Session-Id")
	version = mcpProtocolVersion
	if v := initializedVersion(a); v != "" {
		version = v
	}
	note := `{"jsonrpc":"2.0","method":"notifications/initialized"}`
	n := s.do(ctx, http.MethodPost, m.Path, mcpHeaders(r.Headers, id, version, "notifications/initialized", ""), note, 0)
	if n.code/100 != 2 {
		return false, "", ""
	}
	return true, id, version
}

// discover reports whether the server serves the stateless revision: its
// server/discover answer lists mcpStateless among its supported versions.
func (s *sender) discover(ctx context.Context, r config.SyntheticRequest) bool {
	body, err := rpcRequest(s.ids.Add(1), "server/discover", withMeta(nil))
	if err != nil {
		return false
	}
	a := s.do(ctx, http.MethodPost, r.MCP.Path, mcpHeaders(r.Headers, "", mcpStateless, "server/discover", ""), body, maxInitAnswer)
	if a.code/100 != 2 {
		return false
	}
	var msg struct {
		Result struct {
			SupportedVersions []string `json:"supportedVersions"`
		} `json:"result"`
	}
	for _, data := range answerMessages(a) {
		if json.Unmarshal(data, &msg) == nil && slices.Contains(msg.Result.SupportedVersions, mcpStateless) {
			return true
		}
	}
	return false
}

// mcpHeaders are the headers of an MCP POST (or DELETE): the request's
// own, then Streamable HTTP's. method and name also go in Mcp-Method and
// Mcp-Name (read by servers of the 2026-07-28 revision, ignored by older
// ones, and by the router for rule filters).
func mcpHeaders(own map[string]string, id, version, method, name string) map[string]string {
	h := make(map[string]string, len(own)+6)
	for k, v := range own {
		h[k] = v
	}
	h["Content-Type"] = "application/json"
	h["Accept"] = "application/json, text/event-stream"
	if id != "" {
		h["Mcp-Session-Id"] = id
	}
	if version != "" {
		h["Mcp-Protocol-Version"] = version
	}
	if method != "" {
		h["Mcp-Method"] = method
	}
	if name != "" {
		h["Mcp-Name"] = name
	}
	return h
}

// rpcRequest encodes a JSON-RPC 2.0 request.
func rpcRequest(id int64, method string, params any) (string, error) {
	msg := map[string]any{"jsonrpc": "2.0", "id": id, "method": method}
	if params != nil {
		if m, ok := params.(map[string]any); !ok || m != nil {
			msg["params"] = params
		}
	}
	b, err := json.Marshal(msg)
	return string(b), err
}

// initializedVersion reads the protocol version from an initialize
// answer; "" when it has none.
func initializedVersion(a *answer) string {
	var msg struct {
		Result struct {
			ProtocolVersion string `json:"protocolVersion"`
		} `json:"result"`
	}
	for _, data := range answerMessages(a) {
		if json.Unmarshal(data, &msg) == nil && msg.Result.ProtocolVersion != "" {
			return msg.Result.ProtocolVersion
		}
	}
	return ""
}

// answerMessages are the JSON-RPC messages of an answer: its body when it
// is JSON, else the data of each event of its stream.
func answerMessages(a *answer) [][]byte {
	mt, _, _ := mime.ParseMediaType(a.header.Get("Content-Type"))
	if mt != "text/event-stream" {
		return [][]byte{a.body}
	}
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(a.body))
	sc.Buffer(make([]byte, 0, 4096), maxInitAnswer)
	for sc.Scan() {
		if data, ok := bytes.CutPrefix(sc.Bytes(), []byte("data:")); ok {
			out = append(out, bytes.Clone(bytes.TrimSpace(data)))
		}
	}
	return out
}
