package router

import (
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// MCP request metric: bluegreen_mcp_requests_total{slot,method,tool,outcome}
// counts the MCP (JSON-RPC) calls the router proxied, recognised by the
// Mcp-Method / Mcp-Name headers of Streamable HTTP 2026-07-28 or, for
// older clients, by a bounded read ahead of a JSON POST body
// (readMCPRequest). Analysis' own requests are not counted.

// DefaultMCPToolLabels bounds the distinct tool label values of
// bluegreen_mcp_requests_total when Options.MCPToolLabels is zero.
const DefaultMCPToolLabels = 50

// mcpOutcome is the outcome label of one MCP call.
type mcpOutcome string

const (
	// mcpOK: answered 2xx without an error inside (a 202 to a
	// notification, too).
	mcpOK mcpOutcome = "ok"
	// mcpJSONRPCError: a JSON-RPC error object in a 2xx answer.
	mcpJSONRPCError mcpOutcome = "jsonrpc_error"
	// mcpToolError: a tool result with isError: true.
	mcpToolError mcpOutcome = "tool_error"
	// mcpHTTPError: an HTTP status of 400 or more, the instance's or the
	// router's own (502, 503, 499 when the client left first).
	mcpHTTPError mcpOutcome = "http_error"
)

// labelOther stands for the label values beyond the bounds.
const labelOther = "other"

// mcpMethodLabel is the method label of method: the MCP methods of the
// revisions up to 2026-07-28 as they are, anything else "other" (the
// header and the body are the client's to choose).
func mcpMethodLabel(method string) string {
	switch method {
	case "initialize", "ping", "server/discover", "subscriptions/listen",
		"tools/list", "tools/call",
		"resources/list", "resources/templates/list", "resources/read", "resources/subscribe", "resources/unsubscribe",
		"prompts/list", "prompts/get", "completion/complete", "logging/setLevel",
		"roots/list", "sampling/createMessage", "elicitation/create",
		"tasks/get", "tasks/list", "tasks/result", "tasks/cancel",
		"notifications/initialized", "notifications/cancelled", "notifications/progress",
		"notifications/roots/list_changed", "notifications/tasks/status":
		return method
	}
	return labelOther
}

// mcpMetrics is the MCP request counter and the bound on its tool label.
type mcpMetrics struct {
	requests *prometheus.CounterVec
	maxTools int

	mu    sync.Mutex
	tools map[string]bool
}

func newMCPMetrics(maxTools int) *mcpMetrics {
	if maxTools <= 0 {
		maxTools = DefaultMCPToolLabels
	}
	return &mcpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bluegreen_mcp_requests_total",
			Help: "MCP calls proxied, by slot, JSON-RPC method, tool (tools/call only; beyond the first tools seen, \"other\") and outcome (ok, jsonrpc_error, tool_error, http_error).",
		}, []string{"slot", "method", "tool", "outcome"}),
		maxTools: maxTools,
		tools:    make(map[string]bool),
	}
}

// toolLabel is the tool label of call with outcome o: "" for a method
// other than tools/call; the tool's name once known; "other" beyond
// maxTools. A name becomes known only from a call the server recognised
// (ok or tool_error), so calls of made-up names cannot fill the set.
func (m *mcpMetrics) toolLabel(call mcpRequest, o mcpOutcome) string {
	if call.Method != mcpToolsCall {
		return ""
	}
	if call.Name == "" {
		return labelOther
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tools[call.Name] {
		return call.Name
	}
	if (o == mcpOK || o == mcpToolError) && len(m.tools) < m.maxTools {
		m.tools[call.Name] = true
		return call.Name
	}
	return labelOther
}

// count records one MCP call of slot s.
func (m *mcpMetrics) count(s *slotState, call mcpRequest, o mcpOutcome) {
	m.requests.WithLabelValues(string(s.slot), mcpMethodLabel(call.Method), m.toolLabel(call, o), string(o)).Inc()
}

// countsMCP reports whether the request with info ri is an MCP call that
// bluegreen_mcp_requests_total counts.
func (r *Router) countsMCP(ri *requestInfo) bool {
	return r.mcpMetrics != nil && ri != nil && ri.call.Method != "" && ri.kind != kindSynthetic
}

// observeMCP looks at the instance's answer to an MCP call: an HTTP error
// is counted at once; a 2xx JSON or event-stream answer is inspected as
// it streams by, for the MCP errors analysis counts (Options.MCPErrors)
// and for the outcome of the call, counted when the body ends.
func (r *Router) observeMCP(s *slotState, resp *http.Response, ri *requestInfo) {
	var ms meterSet
	if r.mcpErrors {
		ms = s.metersFor(ri)
	}
	var report func(mcpOutcome)
	if r.countsMCP(ri) {
		if resp.StatusCode >= 400 {
			r.mcpMetrics.count(s, ri.call, mcpHTTPError)
		} else {
			call := ri.call
			report = func(o mcpOutcome) { r.mcpMetrics.count(s, call, o) }
		}
	}
	if !inspectMCP(resp, ms, report) && report != nil {
		report(mcpOK)
	}
}

// countMCPFailure counts an MCP call the router answered itself with code
// (no answer from an instance).
func (r *Router) countMCPFailure(s *slotState, ri *requestInfo) {
	if r.countsMCP(ri) {
		r.mcpMetrics.count(s, ri.call, mcpHTTPError)
	}
}
