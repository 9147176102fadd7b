package config

import (
	"strconv"
	"strings"
)

// MaxFilters bounds the distinct filters the rules of analysis may
// declare: the router keeps a set of counts per filter and slot.
const MaxFilters = 32

// MCPToolsCall is the JSON-RPC method of an MCP tool call; a rule with
// mcp_tool selects it.
const MCPToolsCall = "tools/call"

// Filter selects the requests an analysis rule measures. The zero Filter
// selects every request; each field set narrows it, and all must match:
//
//   - PathPrefix: the URL path starts with it (a plain string prefix, so
//     /api matches /api/x and /apix; write /api/ for the segment);
//   - MCPMethod: the request is an MCP (JSON-RPC) POST with that method,
//     from the Mcp-Method header or the body;
//   - MCPTool: the request is a tools/call of that tool, from the Mcp-Name
//     header or the body's params.name.
type Filter struct {
	PathPrefix string `json:"path_prefix,omitempty"`
	MCPMethod  string `json:"mcp_method,omitempty"`
	MCPTool    string `json:"mcp_tool,omitempty"`
}

// Filter is the rule's filter. A rule with mcp_tool and no mcp_method
// selects tools/call.
func (r Rule) Filter() Filter {
	f := Filter{PathPrefix: r.PathPrefix, MCPMethod: r.MCPMethod, MCPTool: r.MCPTool}
	if f.MCPTool != "" && f.MCPMethod == "" {
		f.MCPMethod = MCPToolsCall
	}
	return f
}

// IsZero reports whether f selects every request.
func (f Filter) IsZero() bool { return f == Filter{} }

// NeedsMCP reports whether f looks at the MCP method or tool.
func (f Filter) NeedsMCP() bool { return f.MCPMethod != "" || f.MCPTool != "" }

// String writes f the way it reads in the config: "path_prefix /api
// mcp_tool search" ("" for the zero Filter). mcp_method tools/call is left
// out when a tool is named.
func (f Filter) String() string {
	var parts []string
	if f.PathPrefix != "" {
		parts = append(parts, "path_prefix "+f.PathPrefix)
	}
	if f.MCPMethod != "" && (f.MCPTool == "" || f.MCPMethod != MCPToolsCall) {
		parts = append(parts, "mcp_method "+f.MCPMethod)
	}
	if f.MCPTool != "" {
		parts = append(parts, "mcp_tool "+f.MCPTool)
	}
	return strings.Join(parts, " ")
}

// Filters lists the distinct filters the rules declare, in the order
// they first appear; the zero Filter is not listed.
func (a *Analysis) Filters() []Filter {
	var out []Filter
	seen := map[Filter]bool{}
	for _, r := range a.Rules {
		f := r.Filter()
		if f.IsZero() || seen[f] {
			continue
		}
		seen[f] = true
		out = append(out, f)
	}
	return out
}

// ruleFilters validates the filter keys of analysis.rules.
func (v *validator) ruleFilters() {
	seen := map[Filter]bool{}
	for i, r := range v.c.Analysis.Rules {
		p := "analysis.rules[" + strconv.Itoa(i) + "]"
		if r.PathPrefix != "" && !strings.HasPrefix(r.PathPrefix, "/") {
			v.at(p+".path_prefix", "must start with /, such as /api/")
		}
		if r.MCPMethod != "" && !validMCPName(r.MCPMethod) {
			v.at(p+".mcp_method", "invalid MCP method %q: want a JSON-RPC method such as tools/call or resources/read (up to 128 characters, no spaces)", r.MCPMethod)
		}
		if r.MCPTool != "" {
			if !validMCPName(r.MCPTool) {
				v.at(p+".mcp_tool", "invalid tool name %q: up to 128 characters, no spaces", r.MCPTool)
			}
			if r.MCPMethod != "" && r.MCPMethod != MCPToolsCall {
				v.at(p+".mcp_tool", "selects tool calls: mcp_method must be tools/call or left out, not %q", r.MCPMethod)
			}
		}
		f := r.Filter()
		if f.IsZero() || seen[f] {
			continue
		}
		seen[f] = true
		if len(seen) == MaxFilters+1 {
			v.at(p, "more than %d distinct filters (path_prefix, mcp_method, mcp_tool) in analysis.rules: the router keeps counts per filter; share filters between rules", MaxFilters)
		}
	}
}

// validMCPName accepts a JSON-RPC method or MCP tool name: 1 to 128
// printable characters without spaces.
func validMCPName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return false
		}
	}
	return true
}
