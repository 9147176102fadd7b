package main

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
)

// mcp answers MCP (JSON-RPC 2.0) requests minimally: tools/call of any
// tool returns a text result, with isError: true for a share
// --tool-error-rate of calls (a tool failing inside HTTP 200); any other
// method returns an empty result.
func (s *shop) mcp(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		s.writeJSON(w, http.StatusOK, map[string]any{"jsonrpc": "2.0", "id": nil,
			"error": map[string]any{"code": -32700, "message": "parse error: " + err.Error()}})
		return
	}
	result := map[string]any{}
	if req.Method == "tools/call" {
		failed := s.cfg.toolErrorRate > 0 && rand.Float64() < s.cfg.toolErrorRate
		text := "ok from " + s.cfg.version
		if failed {
			text = "simulated tool failure in " + s.cfg.version
		}
		result = map[string]any{"content": []map[string]string{{"type": "text", "text": text}}, "isError": failed}
	}
	s.writeJSON(w, http.StatusOK, map[string]any{"jsonrpc": "2.0", "id": req.ID, "result": result})
}
