package verify

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/bluegreen-dev/bluegreen/internal/config"
)

// needChromium skips a browser test when Chromium is missing, with the
// reason, except in CI (CI=true), where it fails.
func needChromium(t *testing.T) {
	t.Helper()
	if _, err := FindChromium(""); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("browser tests need Chromium in CI: %v", err)
		}
		t.Skipf("skipping browser test: %v", err)
	}
}

func browserCheck(name string, b config.BrowserCheck) config.Check {
	if b.WaitFor == "" {
		b.WaitFor = `document.readyState === "complete"`
	}
	if b.Widget != "" && b.MCPPath == "" {
		b.MCPPath = "/mcp"
	}
	return config.Check{Name: name, Slot: config.SlotIdle, Timeout: config.Duration(20 * time.Second), Browser: &b}
}

func pages(t *testing.T) string {
	t.Helper()
	return server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		switch r.URL.Path {
		case "/flag":
			_, _ = io.WriteString(w, `<html><body>ok<script>setTimeout(() => { window.ready = true; }, 100);</script></body></html>`)
		case "/throws":
			_, _ = io.WriteString(w, `<html><body><h1>widget</h1><script>window.ready = true; throw new Error("boom in widget");</script></body></html>`)
		case "/console":
			_, _ = io.WriteString(w, `<html><body><script>console.error("favicon missing, ignore"); window.ready = true;</script></body></html>`)
		case "/header":
			if r.Header.Get("X-Canary-Version") == "s3cret" {
				_, _ = io.WriteString(w, `<script>window.ready = true;</script>`)
			}
		case "/favicon.ico":
			w.WriteHeader(http.StatusNoContent)
		default:
			http.NotFound(w, r)
		}
	})
}

// TestBrowserPage: a page that sets its flag passes; one that throws fails
// with the exception and a PNG screenshot in the artifacts directory.
func TestBrowserPage(t *testing.T) {
	needChromium(t)
	base := pages(t)
	res := runWith(t, Options{BaseURL: base}, browserCheck("flag", config.BrowserCheck{Path: "/flag", WaitFor: "window.ready === true"}))
	if !res.Passed || res.Kind != "browser" {
		t.Fatalf("flag: %+v", res)
	}

	dir := t.TempDir()
	res = runWith(t, Options{BaseURL: base, ArtifactsDir: dir}, browserCheck("throws", config.BrowserCheck{Path: "/throws", WaitFor: "window.ready === true"}))
	if res.Passed || !strings.HasPrefix(res.Reason, "uncaught exception: Uncaught Error: boom in widget; screenshot "+dir+"/throws-") {
		t.Fatalf("throws: %+v", res)
	}
	if len(res.Artifacts) != 1 {
		t.Fatalf("artifacts %v", res.Artifacts)
	}
	png, err := os.ReadFile(res.Artifacts[0])
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("screenshot %s: %d bytes, %v", res.Artifacts[0], len(png), err)
	}
}

// TestBrowserConsoleAndTimeout: a console error fails unless allowed; a
// wait_for that never becomes true fails at the timeout; the browser sends
// the configured headers.
func TestBrowserConsoleAndTimeout(t *testing.T) {
	needChromium(t)
	base := pages(t)
	res := runWith(t, Options{BaseURL: base}, browserCheck("console", config.BrowserCheck{Path: "/console", WaitFor: "window.ready"}))
	if res.Passed || res.Reason != "console error: favicon missing, ignore" {
		t.Errorf("console: %+v", res)
	}
	res = runWith(t, Options{BaseURL: base}, browserCheck("allowed", config.BrowserCheck{Path: "/console", WaitFor: "window.ready", AllowConsoleErrors: []string{"^console error: favicon"}}))
	if !res.Passed {
		t.Errorf("allowed: %+v", res)
	}
	c := browserCheck("never", config.BrowserCheck{Path: "/flag", WaitFor: "window.never === true"})
	c.Timeout = config.Duration(time.Second)
	res = runWith(t, Options{BaseURL: base}, c)
	if res.Passed || res.Reason != `wait_for "window.never === true" not true within 1s` {
		t.Errorf("never: %+v", res)
	}
	res = runWith(t, Options{BaseURL: base, BrowserHeaders: map[string]string{"X-Canary-Version": "s3cret"}},
		browserCheck("header", config.BrowserCheck{Path: "/header", WaitFor: "window.ready === true"}))
	if !res.Passed {
		t.Errorf("header: %+v", res)
	}
}

const goodWidget = `<!doctype html><html><body><div id="root">loading</div><script>
(async () => {
  const out = window.openai.toolOutput;
  const res = await window.openai.callTool("search_appointments", {userId: "t1"});
  document.getElementById("root").textContent = out.count + " appointments";
  window.ready = true;
})();
</script></body></html>`

const throwingWidget = `<!doctype html><html><body><div id="root"></div><script>
window.openai.toolOutput.appointments.map(a => a.doctor); // v2 broke the shape
window.ready = true;
</script></body></html>`

func widgetServer(t *testing.T, html string) string {
	t.Helper()
	s := mcp.NewServer(&mcp.Implementation{Name: "w", Version: "1"}, nil)
	s.AddResource(&mcp.Resource{URI: widgetURI, Name: "appointments", MIMEType: "text/html+skybridge"},
		func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: widgetURI, MIMEType: "text/html+skybridge", Text: html}}}, nil
		})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil)
	mux := http.NewServeMux()
	mux.Handle("/mcp", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestBrowserWidget: a widget resource read over MCP renders with the stub
// window.openai, whose calls are recorded; a widget that throws fails with
// a screenshot.
func TestBrowserWidget(t *testing.T) {
	needChromium(t)
	good := widgetServer(t, goodWidget)
	res := runWith(t, Options{BaseURL: good}, browserCheck("widget", config.BrowserCheck{
		Widget: widgetURI, ToolOutput: map[string]any{"count": 2}, WaitFor: `window.ready === true && document.getElementById("root").textContent === "2 appointments"`,
	}))
	if !res.Passed || !strings.Contains(res.Details, `window.openai calls: [{"method":"callTool","args":{"name":"search_appointments","args":{"userId":"t1"}}}]`) {
		t.Fatalf("good widget: %+v", res)
	}

	bad := widgetServer(t, throwingWidget)
	dir := t.TempDir()
	res = runWith(t, Options{BaseURL: bad, ArtifactsDir: dir}, browserCheck("widget", config.BrowserCheck{Widget: widgetURI, ToolOutput: map[string]any{"count": 2}, WaitFor: "window.ready === true"}))
	if res.Passed || !strings.HasPrefix(res.Reason, "uncaught exception: Uncaught TypeError: Cannot read properties of undefined (reading 'map')") ||
		len(res.Artifacts) != 1 || !strings.Contains(res.Reason, "screenshot "+res.Artifacts[0]) {
		t.Fatalf("throwing widget: %+v", res)
	}
}
