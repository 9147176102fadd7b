package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bluegreen-dev/bluegreen/internal/verify"
)

// mcpAppBin is the example MCP app, built once for the checks tests.
var mcpAppBin = sync.OnceValues(func() (string, error) {
	out := filepath.Join(filepath.Dir(bins.bluegreen), "mcp-app")
	cmd := exec.Command("go", "build", "-o", out, "../../examples/mcp-app")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build mcp-app: %v\n%s", err, msg)
	}
	return out, nil
})

// TestChecksGuardTheRelease runs the four check kinds in verifying against
// the example MCP app. The release label picks a fault: v2 is healthy and
// goes live; v2-notool removes a tool (compare_with_live fails with a diff
// naming it); v2-widget throws in the browser (a screenshot is saved);
// v2-cmd fails the command check (its output tail is shown). A failed
// release never gets production traffic: every client answer during those
// deployments comes from the live slot.
func TestChecksGuardTheRelease(t *testing.T) {
	if _, err := verify.FindChromium(""); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium is needed for browser checks in CI: %v", err)
		}
		t.Skipf("chromium not installed: %v", err)
	}
	bin, err := mcpAppBin()
	if err != nil {
		t.Fatal(err)
	}
	a := newApp(t, appOptions{})
	// The same app directory, but the release is the MCP app; the label
	// after "v2-" selects a fault, and the command check fails for v2-cmd.
	app := filepath.Join(a.dir, "shop") // newApp's cleanup looks for this path
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(app, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(a.cfg)
	if err != nil {
		t.Fatal(err)
	}
	launch := fmt.Sprintf(`exec %s --listen 127.0.0.1:$PORT --slot {slot} --version $(echo {version} | cut -c1-2) `+
		`$(case {version} in v2-notool) echo --break remove-tool;; v2-widget) echo --break widget-throws;; esac)`, app)
	yaml := string(cfg)
	yaml = yaml[:strings.Index(yaml, "    command:")] + fmt.Sprintf("    command: [\"sh\", \"-c\", %q]\n", launch) +
		yaml[strings.Index(yaml, "    instances:"):]
	// Two instances per slot and sessions kept in each instance's memory:
	// the MCP checks work only because the router pins a session to the
	// instance that issued it (routing.mcp_sessions, on by default).
	yaml = yaml[:strings.Index(yaml, "checks:")] + `checks:
  - name: health
    http: { path: /health, expect: { status: 200, json: { status: healthy } } }
  - name: tools
    mcp:
      path: /mcp
      tools_list: { min: 1, required: [search_appointments], compare_with_live: breaking-fails }
      call: { tool: search_appointments, arguments: { userId: t1 } }
  - name: widget
    timeout: 20s
    browser: { widget: "ui://widget/appointments.html", wait_for: "window.widgetReady === true" }
  - name: suite
    command: ["sh", "-c", "echo suite against $TEST_URL for $BLUEGREEN_VERSION; test \"$BLUEGREEN_VERSION\" != v2-cmd || { echo 3 tests failed; exit 1; }"]
`
	if err := os.WriteFile(a.cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	a.start()
	if out, code := a.deployWait("v1"); code != 0 {
		t.Fatalf("deploy v1: exit %d\n%s\n%s", code, out, failedChecks(t, a.history()[0].Data))
	}
	live := a.status().Route.Live

	for _, tc := range []struct{ version, want string }{
		{"v2-notool", "search_appointments"},
		{"v2-widget", "screenshot"},
		{"v2-cmd", "3 tests failed"},
	} {
		l := startLoadOn(t, a.prod, 2)
		out, code := a.deployWait(tc.version)
		l.stop()
		if code != 1 {
			t.Fatalf("deploy %s: exit %d, want 1 (checks fail)\n%s", tc.version, code, out)
		}
		h := a.history()[0]
		if h.Phase != "failed" {
			t.Fatalf("%s ended %s, want failed", tc.version, h.Phase)
		}
		report := failedChecks(t, h.Data)
		if !strings.Contains(report, tc.want) {
			t.Errorf("%s: the report lacks %q:\n%s", tc.version, tc.want, report)
		}
		if l.failed.Load() > 0 || len(l.slots) != 1 || l.slots[string(live)] == 0 {
			t.Errorf("%s: production traffic reached %v (failed %d); want only the live slot %s", tc.version, l.slots, l.failed.Load(), live)
		}
	}
	shots, _ := filepath.Glob(filepath.Join(a.dir, ".bluegreen", "artifacts", "*", "*.png"))
	if len(shots) == 0 {
		t.Errorf("no screenshot saved under .bluegreen/artifacts for the widget failure")
	}

	if out, code := a.deployWait("v2"); code != 0 {
		t.Fatalf("a healthy v2 with all four check kinds: exit %d\n%s\n%s", code, out, failedChecks(t, a.history()[0].Data))
	}
	if kinds := passedKinds(t, a.history()[0].Data); len(kinds) != 4 {
		t.Errorf("healthy v2 passed check kinds %v, want http, mcp, browser and command", kinds)
	}
}

// failedChecks returns the failed results of the stored check report.
func failedChecks(t *testing.T, data json.RawMessage) string {
	t.Helper()
	var b strings.Builder
	for _, r := range reportOf(t, data) {
		if !r.Passed {
			fmt.Fprintf(&b, "%s (%s): %s\n", r.Name, r.Kind, r.Reason)
		}
	}
	return b.String()
}

func passedKinds(t *testing.T, data json.RawMessage) map[string]bool {
	t.Helper()
	kinds := map[string]bool{}
	for _, r := range reportOf(t, data) {
		if r.Passed {
			kinds[r.Kind] = true
		}
	}
	return kinds
}

type checkResult struct {
	Name, Kind, Reason string
	Passed             bool
}

func reportOf(t *testing.T, data json.RawMessage) []checkResult {
	t.Helper()
	var d struct {
		Report struct {
			Results []checkResult `json:"results"`
		} `json:"report"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("deployment data: %v\n%s", err, data)
	}
	return d.Report.Results
}
