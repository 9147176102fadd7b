package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bg "github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/verify"
)

func start(t *testing.T, cfg config) string {
	t.Helper()
	cfg.db = filepath.Join(t.TempDir(), "clinic.db")
	a, err := newApp(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.handler())
	t.Cleanup(func() {
		srv.Close()
		if err := a.close(); err != nil {
			t.Error(err)
		}
	})
	return srv.URL
}

// checks are the four kinds the way a bluegreen.yaml for this app has them.
func checks(withBrowser bool) []bg.Check {
	d := bg.Duration(20 * time.Second)
	cs := []bg.Check{
		{Name: "health", Timeout: d, HTTP: &bg.HTTPCheck{Method: "GET", Path: "/health",
			Expect: bg.HTTPExpect{Status: 200, JSON: map[string]any{"status": "healthy", "schema": "compatible"}}}},
		{Name: "tools", Timeout: d, MCP: &bg.MCPCheck{Path: "/mcp",
			ToolsList: &bg.MCPToolsList{Min: 2, Required: []string{"search_appointments", "get_customer"}, CompareWithLive: bg.CompareBreakingFails},
			Call: &bg.MCPCall{Tool: "search_appointments", Arguments: map[string]any{"userId": "t1"},
				Expect: bg.MCPExpect{ContentContains: "2 appointments", StructuredContent: true, JSON: map[string]any{"appointments.0.doctor": "Dr. Lee"}}},
			ResourcesRead: &bg.MCPResourcesRead{URI: widgetURI, MIMEType: skybridge, Contains: "window.openai"}}},
		{Name: "suite", Timeout: d, Command: []string{"sh", "-c", `case "$TEST_URL" in http://127.0.0.1:*) exit 0;; *) echo "bad TEST_URL $TEST_URL"; exit 1;; esac`}},
	}
	if withBrowser {
		cs = append(cs,
			bg.Check{Name: "widget", Timeout: d, Browser: &bg.BrowserCheck{Widget: widgetURI, MCPPath: "/mcp",
				ToolOutput: map[string]any{"count": 1, "appointments": []any{map[string]any{"id": "a1", "doctor": "Dr. Lee", "at": "2026-03-02T09:00"}}},
				WaitFor:    `window.widgetReady === true && document.body.textContent.includes("Dr. Lee")`}},
			bg.Check{Name: "widget-page", Timeout: d, Browser: &bg.BrowserCheck{Path: "/widget-test", WaitFor: "window.widgetReady === true"}},
		)
	}
	return cs
}

func haveChromium(t *testing.T) bool {
	t.Helper()
	if _, err := verify.FindChromium(""); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("browser checks need Chromium in CI: %v", err)
		}
		t.Logf("browser checks left out: %v", err)
		return false
	}
	return true
}

func reasons(rep verify.Report) map[string]string {
	m := map[string]string{}
	for _, r := range rep.Results {
		if !r.Passed {
			m[r.Name] = r.Reason
		}
	}
	return m
}

// TestHealthyV2Passes: v2 (a compatible schema change, a structured
// address) passes every check kind against a live v1, with sessions and
// stateless.
func TestHealthyV2Passes(t *testing.T) {
	browser := haveChromium(t)
	for _, stateless := range []bool{false, true} {
		live := start(t, config{version: "v1", stateless: stateless})
		idle := start(t, config{version: "v2", stateless: stateless})
		rep := verify.NewRunner(checks(browser), nil, nil).Run(context.Background(),
			verify.Options{BaseURL: idle, LiveURL: live, Slot: "green", Version: "v2", ArtifactsDir: t.TempDir()}, "")
		if !rep.Passed {
			t.Fatalf("stateless=%v: failed: %v", stateless, reasons(rep))
		}
		if d := rep.Results[1].Details; !strings.Contains(d, "+ tool search_appointments: optional property date added") {
			t.Errorf("tools details: %q", d)
		}
	}
}

// TestBrokenV2Fails: each deliberate fault fails the check that should
// catch it, with a reason naming the fault.
func TestBrokenV2Fails(t *testing.T) {
	browser := haveChromium(t)
	live := start(t, config{version: "v1"})
	cases := []struct {
		b     breakage
		check string
		want  string
	}{
		{breakRemoveTool, "tools", "- tool get_customer removed"},
		{breakRequireArg, "tools", "- tool search_appointments: argument date is newly required"},
		{breakToolError, "tools", "call search_appointments: isError true, want false: search appointments: database pool exhausted"},
		{breakWidgetThrows, "widget", "uncaught exception: Uncaught TypeError: Cannot read properties of undefined (reading 'map')"},
	}
	for _, tc := range cases {
		if tc.check == "widget" && !browser {
			continue
		}
		t.Run(string(tc.b), func(t *testing.T) {
			idle := start(t, config{version: "v2", stateless: true, breaks: []breakage{tc.b}})
			dir := t.TempDir()
			rep := verify.NewRunner(checks(browser), nil, nil).Run(context.Background(), verify.Options{BaseURL: idle, LiveURL: live, ArtifactsDir: dir}, tc.check)
			got := reasons(rep)[tc.check]
			if rep.Passed || !strings.Contains(got, tc.want) {
				t.Fatalf("reason %q, want it to contain %q", got, tc.want)
			}
			if tc.check == "widget" {
				if shots, _ := filepath.Glob(filepath.Join(dir, "widget-*.png")); len(shots) != 1 {
					t.Errorf("screenshots %v", shots)
				}
			}
		})
	}
}

// TestHealthReportsSchema: /health says healthy with the expected columns
// and 503 with the missing ones.
func TestHealthReportsSchema(t *testing.T) {
	cfg := config{version: "v2", db: filepath.Join(t.TempDir(), "c.db")}
	a, err := newApp(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := a.close(); err != nil {
			t.Error(err)
		}
	}()
	get := func() (int, map[string]any) {
		rec := httptest.NewRecorder()
		a.handler().ServeHTTP(rec, httptest.NewRequest("GET", "/health", nil))
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		return rec.Code, m
	}
	if code, m := get(); code != 200 || m["status"] != "healthy" || m["schema"] != "compatible" || m["version"] != "v2" {
		t.Errorf("healthy: %d %v", code, m)
	}
	if _, err := a.db.Exec(`ALTER TABLE customers DROP COLUMN zip`); err != nil {
		t.Fatal(err)
	}
	if code, m := get(); code != 503 || m["schema"] != "missing columns: customers.zip" {
		t.Errorf("missing column: %d %v", code, m)
	}
}

// TestRunUsage: bad flags exit 2; a started app stops on cancel with 0.
func TestRunUsage(t *testing.T) {
	for _, args := range [][]string{{"--version", "v3"}, {"--break", "everything"}, {"extra"}} {
		if code := run(context.Background(), args, func(string) string { return "" }, io.Discard); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &signalWriter{want: "mcp-app listening", seen: make(chan struct{})}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"--listen", "127.0.0.1:0"}, func(string) string { return "" }, logs) }()
	select {
	case <-logs.seen:
	case code := <-done:
		t.Fatalf("exit %d before listening: %s", code, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatal("not listening")
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d: %s", code, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop")
	}
}

// signalWriter keeps what is written and closes seen once want appears.
type signalWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return n, err
}

func (w *signalWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
