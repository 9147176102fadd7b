package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/bluegreen-dev/bluegreen/internal/golden"
)

type checkToolIn struct {
	UserID string `json:"userId"`
}

type checkToolOut struct {
	Count int `json:"count"`
}

// checkApp serves /health and an MCP server at /mcp with the tools named.
func checkApp(t *testing.T, version string, tools ...string) string {
	t.Helper()
	s := mcp.NewServer(&mcp.Implementation{Name: "clinic", Version: version}, nil)
	for _, name := range tools {
		mcp.AddTool(s, &mcp.Tool{Name: name, Description: "the " + name + " tool"},
			func(context.Context, *mcp.CallToolRequest, checkToolIn) (*mcp.CallToolResult, checkToolOut, error) {
				return nil, checkToolOut{Count: 2}, nil
			})
	}
	mux := http.NewServeMux()
	mux.Handle("/mcp", mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: true}))
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"healthy","version":"`+version+`"}`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// checkConfig writes a bluegreen.yaml whose listeners are the live and
// idle test apps and whose admin API is unreachable.
func checkConfig(t *testing.T, live, idle string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := `app: clinic
listen: ` + live + `
preview_listen: ` + idle + `
admin_listen: 127.0.0.1:1
driver:
  kind: static
  static: { blue: ["127.0.0.1:3001"], green: ["127.0.0.1:3002"] }
checks:
  - name: health
    slot: both
    http: { path: /health, expect: { json: { status: healthy } } }
  - name: tools
    mcp:
      tools_list: { min: 1, required: [search_appointments], compare_with_live: breaking-fails }
      call: { tool: search_appointments, arguments: { userId: t1 }, expect: { json: { count: 2 } } }
  - name: suite
    command: ["sh", "-c", "echo \"testing $TEST_URL\" | sed 's/127.0.0.1:[0-9]*/PREVIEW/'; echo '2 passed, 1 failed'; exit 1"]
  - name: live-only
    slot: live
    command: ["true"]
`
	path := filepath.Join(dir, "bluegreen.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func runCheck(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), append([]string{"check"}, args...), strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

var durationRe = regexp.MustCompile(`"duration_ns": [0-9]+`)

// TestCheckJSONGolden: `check --json` on the idle slot reports every
// check with its reason, the removed tool named in the diff and the
// command's output tail; it is stable (durations zeroed) and exits 1.
func TestCheckJSONGolden(t *testing.T) {
	live := checkApp(t, "v1", "search_appointments", "get_customer")
	idle := checkApp(t, "v2", "search_appointments", "cancel_appointment")
	cfg := checkConfig(t, live, idle)
	code, out, errOut := runCheck(t, "-c", cfg, "--json")
	if code != exitFailed || errOut != "bluegreen check: 2 of 3 checks failed\n" {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	got := durationRe.ReplaceAllString(out, `"duration_ns": 0`)
	golden.Assert(t, filepath.Join("testdata", "check.json.golden"), []byte(got))
	for _, s := range []string{"- tool get_customer removed", "2 passed, 1 failed", `"passed": false`} {
		if !strings.Contains(got, s) {
			t.Errorf("output lacks %q", s)
		}
	}
}

// TestCheckOnlyAndLive: --only runs one check, --slot live runs the live
// and both checks against the production listener; passing exits 0.
func TestCheckOnlyAndLive(t *testing.T) {
	live := checkApp(t, "v1", "search_appointments")
	idle := checkApp(t, "v2", "search_appointments")
	cfg := checkConfig(t, live, idle)
	code, out, errOut := runCheck(t, "-c", cfg, "--only", "tools")
	if code != exitOK || !strings.Contains(out, "ok    tools") || !strings.Contains(out, "1 checks: 1 passed, 0 failed") {
		t.Errorf("only tools: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCheck(t, "-c", cfg, "--slot", "live")
	if code != exitOK || !strings.Contains(out, "checks on the live slot through http://"+live) ||
		!strings.Contains(out, "ok    health") || !strings.Contains(out, "ok    live-only") || strings.Contains(out, "tools") {
		t.Errorf("live: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runCheck(t, "-c", cfg, "--only", "nope")
	if code != exitFailed || !strings.Contains(out, `no check named "nope" (have: health, tools, suite)`) {
		t.Errorf("only nope: exit %d\n%s", code, out)
	}
}

// TestCheckUsage: bad flags, arguments and config exit 2.
func TestCheckUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--slot", "both"}, {"--slot", "green"}, {"extra"}, {"--bogus"}, {"-c", filepath.Join(t.TempDir(), "missing.yaml")},
	} {
		if code, _, errOut := runCheck(t, args...); code != exitUsage || errOut == "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
}
