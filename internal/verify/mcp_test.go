package verify

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/bluegreen-dev/bluegreen/internal/config"
)

// appVersion shapes a test MCP server: v1, v2 (compatible: an optional
// argument and a new tool), or a broken v2.
type appVersion struct {
	v2          bool
	removeTool  bool // get_customer is gone
	toolErrors  bool // search_appointments answers isError
	requireDate bool // search_appointments needs a date
	retypeUser  bool // userId becomes an integer
}

type searchIn struct {
	UserID string `json:"userId" jsonschema:"the user whose appointments to list"`
}

type searchInV2 struct {
	UserID string `json:"userId" jsonschema:"the user whose appointments to list"`
	Date   string `json:"date,omitempty" jsonschema:"only this day (YYYY-MM-DD)"`
}

type searchInDate struct {
	UserID string `json:"userId"`
	Date   string `json:"date"`
}

type searchInInt struct {
	UserID int `json:"userId"`
}

type appointment struct {
	ID     string `json:"id"`
	Doctor string `json:"doctor"`
}

type searchOut struct {
	Count        int           `json:"count"`
	Appointments []appointment `json:"appointments"`
}

type customerIn struct {
	ID string `json:"id"`
}

type customerOut struct {
	Name string `json:"name"`
}

const widgetURI = "ui://widget/appointments.html"

func newMCPServer(v appVersion) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "clinic", Version: "test"}, nil)
	result := func(user string) (*mcp.CallToolResult, searchOut, error) {
		if v.toolErrors {
			return nil, searchOut{}, errors.New("database unavailable")
		}
		out := searchOut{Count: 2, Appointments: []appointment{{ID: "a1", Doctor: "Dr. Lee"}, {ID: "a2", Doctor: "Dr. Ng"}}}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "2 appointments for " + user}}}, out, nil
	}
	search := &mcp.Tool{Name: "search_appointments", Description: "List a user's appointments."}
	switch {
	case v.requireDate:
		mcp.AddTool(s, search, func(_ context.Context, _ *mcp.CallToolRequest, in searchInDate) (*mcp.CallToolResult, searchOut, error) {
			return result(in.UserID)
		})
	case v.retypeUser:
		mcp.AddTool(s, search, func(_ context.Context, _ *mcp.CallToolRequest, in searchInInt) (*mcp.CallToolResult, searchOut, error) {
			return result("user")
		})
	case v.v2:
		mcp.AddTool(s, search, func(_ context.Context, _ *mcp.CallToolRequest, in searchInV2) (*mcp.CallToolResult, searchOut, error) {
			return result(in.UserID)
		})
	default:
		mcp.AddTool(s, search, func(_ context.Context, _ *mcp.CallToolRequest, in searchIn) (*mcp.CallToolResult, searchOut, error) {
			return result(in.UserID)
		})
	}
	if !v.removeTool {
		mcp.AddTool(s, &mcp.Tool{Name: "get_customer", Description: "One customer by ID."},
			func(_ context.Context, _ *mcp.CallToolRequest, in customerIn) (*mcp.CallToolResult, customerOut, error) {
				return nil, customerOut{Name: "Ada"}, nil
			})
	}
	if v.v2 {
		mcp.AddTool(s, &mcp.Tool{Name: "cancel_appointment", Description: "Cancel one appointment."},
			func(_ context.Context, _ *mcp.CallToolRequest, in customerIn) (*mcp.CallToolResult, customerOut, error) {
				return nil, customerOut{}, nil
			})
	}
	s.AddResource(&mcp.Resource{URI: widgetURI, Name: "appointments", MIMEType: "text/html+skybridge"},
		func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{
				URI: widgetURI, MIMEType: "text/html+skybridge", Text: `<div id="root"></div><script>window.ready = !!window.openai;</script>`,
			}}}, nil
		})
	return s
}

// mcpApp serves a test MCP server at /mcp and counts the requests that
// carried an Mcp-Session-Id.
type mcpApp struct {
	URL         string
	withSession atomic.Int64
	requests    atomic.Int64
	lastAPIKey  atomic.Value
}

func startMCP(t *testing.T, v appVersion, stateless bool) *mcpApp {
	t.Helper()
	s := newMCPServer(v)
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: stateless})
	app := &mcpApp{}
	mux := http.NewServeMux()
	mux.Handle("/mcp", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		app.requests.Add(1)
		if r.Header.Get("Mcp-Session-Id") != "" {
			app.withSession.Add(1)
		}
		app.lastAPIKey.Store(r.Header.Get("X-Api-Key"))
		h.ServeHTTP(w, r)
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	app.URL = srv.URL
	return app
}

func mcpCheck(name string, m config.MCPCheck) config.Check {
	if m.Path == "" {
		m.Path = "/mcp"
	}
	return config.Check{Name: name, Slot: config.SlotIdle, Timeout: config.Duration(20 * time.Second), MCP: &m}
}

func runWith(t *testing.T, o Options, c config.Check) Result {
	t.Helper()
	r := NewRunner([]config.Check{c}, nil, nil)
	r.retryDelay = 0
	rep := r.Run(context.Background(), o, "")
	if len(rep.Results) != 1 {
		t.Fatalf("got %d results", len(rep.Results))
	}
	return rep.Results[0]
}

func fullMCPCheck(compare config.CompareMode) config.Check {
	return mcpCheck("tools", config.MCPCheck{
		ToolsList: &config.MCPToolsList{Min: 2, Required: []string{"search_appointments", "get_customer"}, CompareWithLive: compare},
		Call: &config.MCPCall{
			Tool: "search_appointments", Arguments: map[string]any{"userId": "t1"},
			Expect:     config.MCPExpect{ContentContains: "2 appointments for t1", StructuredContent: true, JSON: map[string]any{"count": 2, "appointments.0.doctor": "Dr. Lee"}},
			MaxLatency: config.Duration(time.Minute),
		},
		ResourcesRead: &config.MCPResourcesRead{URI: widgetURI, MIMEType: "text/html+skybridge", Contains: "window.openai"},
	})
}

// TestMCPBothModes: the same check passes against a server that hands out
// sessions and one that is stateless, and the session ID is sent back
// only to the first.
func TestMCPBothModes(t *testing.T) {
	for _, stateless := range []bool{false, true} {
		name := map[bool]string{false: "sessions", true: "stateless"}[stateless]
		t.Run(name, func(t *testing.T) {
			live := startMCP(t, appVersion{}, stateless)
			idle := startMCP(t, appVersion{v2: true}, stateless)
			res := runWith(t, Options{BaseURL: idle.URL, LiveURL: live.URL}, fullMCPCheck(config.CompareBreakingFails))
			if !res.Passed {
				t.Fatalf("got %+v", res)
			}
			if !strings.Contains(res.Details, "+ tool cancel_appointment added") ||
				!strings.Contains(res.Details, "+ tool search_appointments: optional property date added") {
				t.Errorf("details do not show the compatible changes:\n%s", res.Details)
			}
			if idle.requests.Load() == 0 || live.requests.Load() == 0 {
				t.Errorf("requests idle %d live %d", idle.requests.Load(), live.requests.Load())
			}
			if got := idle.withSession.Load(); stateless && got != 0 || !stateless && got == 0 {
				t.Errorf("stateless=%v: %d requests carried Mcp-Session-Id", stateless, got)
			}
		})
	}
}

// TestMCPBreaking: each breaking change fails compare_with_live with a
// readable diff naming it; with breaking-warns the check passes and keeps
// the diff.
func TestMCPBreaking(t *testing.T) {
	live := startMCP(t, appVersion{}, false)
	cases := []struct {
		name string
		v    appVersion
		want string
	}{
		{"removed tool", appVersion{removeTool: true}, "- tool get_customer removed"},
		{"newly required", appVersion{requireDate: true}, "- tool search_appointments: argument date is newly required"},
		{"retyped", appVersion{retypeUser: true}, "- tool search_appointments: userId re-typed from string to integer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			idle := startMCP(t, tc.v, true)
			check := mcpCheck("tools", config.MCPCheck{ToolsList: &config.MCPToolsList{Min: 1, CompareWithLive: config.CompareBreakingFails}})
			res := runWith(t, Options{BaseURL: idle.URL, LiveURL: live.URL}, check)
			if res.Passed || !strings.Contains(res.Reason, "tools differ from the live slot: 1 breaking") || !strings.Contains(res.Reason, tc.want) {
				t.Errorf("got passed=%v reason:\n%s\nwant it to contain %q", res.Passed, res.Reason, tc.want)
			}
			check.MCP.ToolsList.CompareWithLive = config.CompareBreakingWarns
			res = runWith(t, Options{BaseURL: idle.URL, LiveURL: live.URL}, check)
			if !res.Passed || !strings.Contains(res.Details, tc.want) {
				t.Errorf("breaking-warns: got %+v", res)
			}
		})
	}
}

// TestMCPCompareSkipped: with no live slot the comparison is skipped and
// says so; an unreachable live slot fails.
func TestMCPCompareSkipped(t *testing.T) {
	idle := startMCP(t, appVersion{}, false)
	check := mcpCheck("tools", config.MCPCheck{ToolsList: &config.MCPToolsList{CompareWithLive: config.CompareBreakingFails}})
	res := runWith(t, Options{BaseURL: idle.URL}, check)
	if !res.Passed || res.Details != "compare_with_live: skipped, no other live slot to compare with" {
		t.Errorf("no live: %+v", res)
	}
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	res = runWith(t, Options{BaseURL: idle.URL, LiveURL: down.URL}, check)
	if res.Passed || !strings.HasPrefix(res.Reason, "compare_with_live: connect to the live slot at "+down.URL+"/mcp: ") {
		t.Errorf("live down: %+v", res)
	}
}

// TestMCPReasons: each failed assertion gives its readable reason.
func TestMCPReasons(t *testing.T) {
	broken := startMCP(t, appVersion{toolErrors: true, removeTool: true}, false)
	ok := startMCP(t, appVersion{}, true)
	cases := []struct {
		name string
		base string
		m    config.MCPCheck
		want string
	}{
		{"tool errors", broken.URL, config.MCPCheck{Call: &config.MCPCall{Tool: "search_appointments", Arguments: map[string]any{"userId": "t1"}}},
			"call search_appointments: isError true, want false: database unavailable"},
		{"too few and missing", broken.URL, config.MCPCheck{ToolsList: &config.MCPToolsList{Min: 2, Required: []string{"get_customer"}}},
			"tools/list has 1 tools, want at least 2; tool get_customer missing from tools/list (have: search_appointments)"},
		{"content and json", ok.URL, config.MCPCheck{Call: &config.MCPCall{Tool: "search_appointments", Arguments: map[string]any{"userId": "t1"},
			Expect: config.MCPExpect{ContentContains: "Dr. Who", JSON: map[string]any{"count": 3}}}},
			`call search_appointments: content does not contain "Dr. Who"; call search_appointments: json count = 2, want 3`},
		{"no structured content", ok.URL, config.MCPCheck{Call: &config.MCPCall{Tool: "get_customer", Arguments: map[string]any{"id": "c1"},
			Expect: config.MCPExpect{JSON: map[string]any{"name": "Ada"}}}}, ""},
		{"unknown tool", ok.URL, config.MCPCheck{Call: &config.MCPCall{Tool: "nope"}}, "call nope: "},
		{"resource mime", ok.URL, config.MCPCheck{ResourcesRead: &config.MCPResourcesRead{URI: widgetURI, MIMEType: "text/html", Contains: "React"}},
			`resource ui://widget/appointments.html has mimeType "text/html+skybridge", want "text/html"; resource ui://widget/appointments.html does not contain "React"`},
		{"resource missing", ok.URL, config.MCPCheck{ResourcesRead: &config.MCPResourcesRead{URI: "ui://widget/none.html"}}, "read resource ui://widget/none.html: "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := runWith(t, Options{BaseURL: tc.base}, mcpCheck(tc.name, tc.m))
			if tc.want == "" {
				if !res.Passed {
					t.Errorf("got %+v, want a pass", res)
				}
				return
			}
			if res.Passed || !strings.HasPrefix(res.Reason, tc.want) {
				t.Errorf("got passed=%v reason %q, want prefix %q", res.Passed, res.Reason, tc.want)
			}
		})
	}
}

// TestMCPHeadersAndUnreachable: configured headers reach the server; a
// server that is down fails with the endpoint in the reason.
func TestMCPHeadersAndUnreachable(t *testing.T) {
	app := startMCP(t, appVersion{}, false)
	res := runWith(t, Options{BaseURL: app.URL}, mcpCheck("h", config.MCPCheck{Headers: map[string]string{"X-Api-Key": "k1"}, ToolsList: &config.MCPToolsList{Min: 1}}))
	if !res.Passed || app.lastAPIKey.Load() != "k1" {
		t.Errorf("got %+v, api key %v", res, app.lastAPIKey.Load())
	}
	down := httptest.NewServer(http.NotFoundHandler())
	res = runWith(t, Options{BaseURL: down.URL}, mcpCheck("d", config.MCPCheck{ToolsList: &config.MCPToolsList{}}))
	down.Close()
	if res.Passed || !strings.HasPrefix(res.Reason, "connect to "+down.URL+"/mcp: ") {
		t.Errorf("got %+v", res)
	}
}

// TestCheckTools: a tool without a name or description, or whose input
// schema is not a valid JSON Schema of type object, fails tools_list. (The
// SDK's server refuses such tools, so this is tested on the list itself.)
func TestCheckTools(t *testing.T) {
	tools := []*mcp.Tool{
		{Name: "ok", Description: "fine", InputSchema: map[string]any{"type": "object", "properties": map[string]any{"q": map[string]any{"type": "string"}}}},
		{Name: "raw", InputSchema: map[string]any{"type": "string"}},
		{Description: "nameless", InputSchema: map[string]any{"type": "object"}},
		{Name: "none", Description: "no schema"},
		{Name: "badref", Description: "d", InputSchema: map[string]any{"type": "object", "properties": map[string]any{"a": map[string]any{"$ref": "#/$defs/missing"}}}},
	}
	got := strings.Join(checkTools(tools, &config.MCPToolsList{Min: 6, Required: []string{"ok", "search"}}), "\n")
	want := strings.Join([]string{
		"tools/list has 5 tools, want at least 6",
		"tool search missing from tools/list (have: ok, raw, , none, badref)",
		"tool raw has no description",
		`tool raw: inputSchema has type "string", want "object"`,
		"tool #2 has no name",
		"tool none: inputSchema missing",
		"tool badref: inputSchema is not a valid JSON Schema: ",
	}, "\n")
	if !strings.HasPrefix(got, want) {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}
