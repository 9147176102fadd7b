package config

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestAnalysisKeys(t *testing.T) {
	c := mustParse(t, minimal, nil)
	if c.AnalysisConfigured() {
		t.Error("analysis configured without an analysis section")
	}
	c = mustParse(t, minimal+`analysis:
  failure_limit: 2
  consecutive_failures: 1
  rules:
    - { metric: latency_p90, compare: statistical }
`, nil)
	a := c.Analysis
	if !c.AnalysisConfigured() || a.FailureLimit != 2 || a.ConsecutiveFailures != 1 ||
		len(a.Rules) != 1 || a.Rules[0].Compare != CompareStatistical || a.MinRequests != 50 {
		t.Errorf("analysis = %+v", a)
	}
	_, err := Parse("b.yaml", []byte(minimal+`analysis:
  failure_limit: -1
  consecutive_failures: -2
  rules:
    - { metric: error_rate, compare: statistical }
    - { metric: latency_p99, compare: bayes }
`), nil)
	for _, want := range []string{
		"analysis.failure_limit: must not be negative, not -1",
		"analysis.consecutive_failures: must not be negative, not -2",
		"analysis.rules[0].compare: statistical applies to latency metrics, not error_rate",
		`analysis.rules[1].compare: unknown value "bayes": want statistical`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("errors %v lack %q", err, want)
		}
	}
}

func TestAnalysisProviders(t *testing.T) {
	c := mustParse(t, minimal+`analysis:
  providers:
    - name: upstream-errors
      prometheus: { url: http://127.0.0.1:9091, query: 'sum(x{slot="{{slot}}"})', max: 0.5 }
    - name: business
      timeout: 2s
      webhook: { url: "http://127.0.0.1:8099/verdict/{{version}}", headers: { Authorization: Bearer x } }
`, nil)
	ps := c.Analysis.Providers
	if len(ps) != 2 || ps[0].Kind() != ProviderPrometheus || ps[0].Timeout.D() != defaultProviderTimeout ||
		*ps[0].Prometheus.Max != 0.5 || ps[0].Prometheus.Min != nil ||
		ps[1].Kind() != ProviderWebhook || ps[1].Timeout.D().String() != "2s" || ps[1].Webhook.Headers["Authorization"] != "Bearer x" {
		t.Errorf("providers = %+v", ps)
	}
	_, err := Parse("b.yaml", []byte(minimal+`analysis:
  providers:
    - name: a
      prometheus: { url: ftp://x, query: up }
    - name: a
      webhook: { url: http://h }
      prometheus: { url: http://h, query: up, max: 1, min: 2 }
    - webhook: { url: "" }
      timeout: 0s
    - name: d
`), nil)
	for _, want := range []string{
		"b.yaml:8:26: analysis.providers[0].prometheus.url: want an http:// or https:// URL with a host",
		"analysis.providers[0].prometheus.max: the query has no bound: give it max, min or both",
		`analysis.providers[1].name: duplicate provider name "a" (also analysis.providers[0])`,
		"analysis.providers[1]: set one of prometheus and webhook, not both",
		"analysis.providers[2].name: required",
		"analysis.providers[2].timeout: must be greater than 0s",
		"analysis.providers[2].webhook.url: required",
		"analysis.providers[3].prometheus: required: prometheus: {url, query, max} or webhook: {url}",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("errors %v lack %q", err, want)
		}
	}
}

func TestAnalysisRuleFilters(t *testing.T) {
	c := mustParse(t, minimal+`analysis:
  rules:
    - { metric: error_rate, max: 1% }
    - { metric: error_rate, max: 2%, mcp_tool: search }
    - { metric: latency_p99, max_ratio_to_live: 1.5, mcp_method: tools/call, mcp_tool: search }
    - { metric: latency_p99, max: 300ms, path_prefix: /api/ }
    - { metric: error_rate, max: 5%, mcp_method: resources/read }
`, nil)
	fs := c.Analysis.Filters()
	want := []Filter{{MCPMethod: "tools/call", MCPTool: "search"}, {PathPrefix: "/api/"}, {MCPMethod: "resources/read"}}
	if !slices.Equal(fs, want) {
		t.Errorf("filters = %+v, want %+v", fs, want)
	}
	if got := c.Analysis.Rules[1].Filter().String(); got != "mcp_tool search" {
		t.Errorf("filter text %q", got)
	}
	if got := (Filter{PathPrefix: "/mcp", MCPMethod: "tools/list"}).String(); got != "path_prefix /mcp mcp_method tools/list" {
		t.Errorf("filter text %q", got)
	}

	var many strings.Builder
	for i := range MaxFilters + 1 {
		fmt.Fprintf(&many, "    - { metric: error_rate, max: 1%%, path_prefix: /p%d }\n", i)
	}
	_, err := Parse("b.yaml", []byte(minimal+`analysis:
  rules:
    - { metric: error_rate, max: 1%, path_prefix: api }
    - { metric: error_rate, max: 1%, mcp_method: "tools call" }
    - { metric: error_rate, max: 1%, mcp_method: tools/list, mcp_tool: search }
`+many.String()), nil)
	for _, want := range []string{
		"b.yaml:7:51: analysis.rules[0].path_prefix: must start with /, such as /api/",
		`analysis.rules[1].mcp_method: invalid MCP method "tools call"`,
		`analysis.rules[2].mcp_tool: selects tool calls: mcp_method must be tools/call or left out, not "tools/list"`,
		"analysis.rules[32]: more than 32 distinct filters",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("errors %v lack %q", err, want)
		}
	}
}

func TestAnalysisSynthetic(t *testing.T) {
	c := mustParse(t, minimal+`analysis:
  synthetic:
    requests:
      - { path: /health }
      - { method: POST, path: /echo, headers: { Content-Type: application/json }, body: '{"a":1}' }
      - mcp: { tool: search, arguments: { q: shoes } }
      - mcp: { path: /rpc, method: tools/list }
`, nil)
	s := c.Analysis.Synthetic
	if s == nil || s.Rate != 5 || s.Timeout.D() != 5*time.Second || len(s.Requests) != 4 {
		t.Fatalf("synthetic = %+v", s)
	}
	r := s.Requests
	if r[0].Method != "GET" || r[1].Body != `{"a":1}` || r[2].MCP == nil || r[2].MCP.Path != "/mcp" ||
		r[2].MCP.Method != "tools/call" || r[2].MCP.Arguments["q"] != "shoes" || r[3].MCP.Method != "tools/list" {
		t.Errorf("requests = %+v", r)
	}
	if mustParse(t, minimal+"analysis:\n  interval: 10s\n", nil).Analysis.Synthetic != nil {
		t.Error("synthetic traffic on without the key")
	}

	_, err := Parse("b.yaml", []byte(minimal+`analysis:
  synthetic:
    rate: 500
    timeout: 2m
    requests:
      - { path: health }
      - { method: get, path: /x, headers: { "bad header": x, X-Bluegreen-Synthetic: "0" } }
      - { path: /x, mcp: { tool: search } }
      - mcp: { path: /mcp }
      - mcp: { method: initialize }
      - mcp: { method: tools/list, tool: x }
      - {}
`), nil)
	for _, want := range []string{
		"b.yaml:7:11: analysis.synthetic.rate: must be above 0 and at most 100 (requests per second to each slot), not 500",
		"analysis.synthetic.timeout: must be at most 1m",
		"analysis.synthetic.requests[0].path: must start with /",
		`analysis.synthetic.requests[1].method: invalid method "get"`,
		`analysis.synthetic.requests[1].headers.bad header: invalid header name "bad header"`,
		"analysis.synthetic.requests[1].headers.X-Bluegreen-Synthetic: is set by bluegreen on every synthetic request",
		"analysis.synthetic.requests[2].path: does not apply to an mcp request",
		"analysis.synthetic.requests[3].mcp.tool: required for tools/call",
		"analysis.synthetic.requests[4].mcp.method: initialize is sent by bluegreen itself",
		"analysis.synthetic.requests[5].mcp.tool: tool and arguments belong to tools/call, not tools/list",
		"analysis.synthetic.requests[6].path: required",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("errors %v lack %q", err, want)
		}
	}
	_, err = Parse("b.yaml", []byte(minimal+"analysis:\n  synthetic: { rate: 0 }\n"), nil)
	for _, want := range []string{"analysis.synthetic.rate: must be above 0", "analysis.synthetic.requests: required: at least one request"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("errors %v lack %q", err, want)
		}
	}
}
