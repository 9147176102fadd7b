package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/bluegreen-dev/bluegreen/internal/api"
	"github.com/bluegreen-dev/bluegreen/internal/capture"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

func buildMCPApp(t *testing.T) string {
	t.Helper()
	bin, err := mcpAppBin() // checks_e2e_test.go
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// startMCPApp runs one instance of the example MCP app (sessions in its
// memory) and waits until it is healthy.
func startMCPApp(t *testing.T, bin, slot, version string) string {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", mustFreePorts(t, 1)[0])
	cmd := exec.Command(bin, "--listen", addr, "--version", version, "--slot", slot)
	logs := &capture.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("mcp-app %s %s logs:\n%s", slot, addr, logs.String())
		}
	})
	waitFor(t, 15*time.Second, "mcp-app "+addr+" healthy", func() bool {
		res, err := http.Get("http://" + addr + "/health")
		if err != nil {
			return false
		}
		_ = res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	return addr
}

// newMCPBluegreen writes a bluegreen.yaml routing to two instances of the
// example MCP app per slot (the static driver: they run on their own and
// outlive serve) with MCP session pinning, and returns the app handle.
func newMCPBluegreen(t *testing.T) *app {
	t.Helper()
	bin := buildMCPApp(t)
	var blue, green []string
	for range 2 {
		blue = append(blue, startMCPApp(t, bin, "blue", "v1"))
		green = append(green, startMCPApp(t, bin, "green", "v2"))
	}
	dir := t.TempDir()
	ports := mustFreePorts(t, 3)
	a := &app{t: t, dir: dir, cfg: filepath.Join(dir, "bluegreen.yaml"),
		prod: fmt.Sprintf("127.0.0.1:%d", ports[0]), admin: fmt.Sprintf("127.0.0.1:%d", ports[2]), logs: &capture.Buffer{}}
	yaml := fmt.Sprintf(`app: clinic
listen: %s
preview_listen: 127.0.0.1:%d
admin_listen: %s
driver:
  kind: static
  static: { blue: [%q, %q], green: [%q, %q] }
health: { path: /health, interval: 100ms, timeout: 1s, healthy_threshold: 2, unhealthy_threshold: 2, ready_timeout: 30s }
routing: { drain_timeout: 3s, mcp_sessions: true, session_drain: 10m }
`, a.prod, ports[1], a.admin, blue[0], blue[1], green[0], green[1])
	if err := os.WriteFile(a.cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{".bluegreen/admin.token", ".bluegreen/preview.secret"} {
		if _, err := writeSecret(filepath.Join(dir, s)); err != nil {
			t.Fatal(err)
		}
	}
	// Registered after the apps: runs before their cleanups stop them.
	t.Cleanup(func() {
		a.stop()
		if t.Failed() {
			t.Logf("serve logs:\n%s", a.logs.String())
		}
	})
	return a
}

// mcpSession is one SDK client session through bluegreen.
type mcpSession struct {
	cs      *mcp.ClientSession
	id      string
	version string // the release that initialised it
}

func openMCPSession(ctx context.Context, t *testing.T, addr string) *mcpSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "e2e-client", Version: "1"}, nil)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: "http://" + addr + "/mcp"}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	s := &mcpSession{cs: cs, id: cs.ID(), version: cs.InitializeResult().ServerInfo.Version}
	if s.id == "" {
		t.Fatal("the example app issued no session id")
	}
	return s
}

// search calls search_appointments in the session.
func (s *mcpSession) search(ctx context.Context) error {
	res, err := s.cs.CallTool(ctx, &mcp.CallToolParams{Name: "search_appointments", Arguments: map[string]any{"userId": "t1"}})
	if err != nil {
		return fmt.Errorf("session %s: search_appointments: %w", s.id, err)
	}
	if res.IsError {
		return fmt.Errorf("session %s: search_appointments: tool error %+v", s.id, res.Content)
	}
	if s.cs.ID() != s.id {
		return fmt.Errorf("session id changed from %s to %s", s.id, s.cs.ID())
	}
	return nil
}

// MCP sessions pinned to blue keep working on their instance across a
// switch to green and a restart of serve: the session table is in the
// state store. New sessions land on green; status shows the sessions left
// on blue and whether it can scale down; the per-tool metric counts the
// calls.
func TestMCPSessionsSurviveServeRestart(t *testing.T) {
	a := newMCPBluegreen(t)
	a.start()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	waitFor(t, 30*time.Second, "both slots healthy", func() bool {
		st := a.status()
		return st.Router.Slots[slot.Blue].Healthy == 2 && st.Router.Slots[slot.Green].Healthy == 2
	})

	const n = 8
	var sessions []*mcpSession
	for range n {
		s := openMCPSession(ctx, t, a.prod)
		if s.version != "v1" {
			t.Fatalf("session initialised by %s while blue (v1) is live", s.version)
		}
		if err := s.search(ctx); err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, s)
	}
	if out, errOut, code := a.cli("route", "--live", "green"); code != 0 {
		t.Fatalf("route --live green: exit %d\n%s%s", code, out, errOut)
	}
	callAll := func(stage string) {
		t.Helper()
		for _, s := range sessions {
			for range 2 {
				if err := s.search(ctx); err != nil {
					t.Fatalf("%s: %v", stage, err)
				}
			}
		}
	}
	callAll("after the switch")
	if fresh := openMCPSession(ctx, t, a.prod); fresh.version != "v2" {
		t.Fatalf("new session after the switch initialised by %s, want green's v2", fresh.version)
	}

	// Restart serve (SIGTERM, as an upgrade would); the apps keep running.
	a.stop()
	a.start()
	if !strings.Contains(a.logs.String(), fmt.Sprintf("mcp sessions restored\" instance=%d", n+1)) {
		t.Errorf("serve did not log the %d pins it restored", n+1)
	}
	callAll("after the restart of serve")

	st := a.status()
	blue := st.Router.Slots[slot.Blue]
	if blue.MCPSessions != n || blue.CanScaleDown || blue.SessionDrainDeadline.IsZero() {
		t.Fatalf("blue after the restart: %d sessions, can scale down %v, session drain until %v; want %d, false, set",
			blue.MCPSessions, blue.CanScaleDown, blue.SessionDrainDeadline, n)
	}
	out, _, _ := a.cli("status")
	if want := fmt.Sprintf("%d MCP sessions pinned: scale-down waits until they end", n); !strings.Contains(out, want) {
		t.Errorf("status does not say %q:\n%s", want, out)
	}
	res, err := http.Get("http://" + a.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if want := `bluegreen_mcp_requests_total{method="tools/call",outcome="ok",slot="blue",tool="search_appointments"} 16`; !strings.Contains(string(metrics), want) {
		t.Errorf("metrics of the restarted serve lack %s", want)
	}

	// Blue's sessions end; then nothing holds up its scale-down.
	for _, s := range sessions {
		if err := s.cs.Close(); err != nil {
			t.Fatalf("close session %s: %v", s.id, err)
		}
	}
	st = a.status()
	if blue := st.Router.Slots[slot.Blue]; blue.MCPSessions != 0 || !blue.CanScaleDown {
		t.Fatalf("blue after its sessions ended: %d sessions, can scale down %v", blue.MCPSessions, blue.CanScaleDown)
	}
}

// The human status names the MCP sessions of each slot and, for a slot
// without traffic, whether they hold up its scale-down.
func TestStatusShowsMCPSessions(t *testing.T) {
	now := time.Date(2030, 1, 1, 10, 0, 0, 0, time.Local)
	st := api.Status{
		App: "clinic", Route: api.Route{Live: "green", Weights: map[slot.Slot]int{"green": 100}},
		Slots: []api.SlotStatus{
			{Slot: "blue", Version: "v1", State: "running", StopAt: now.Add(30 * time.Minute)},
			{Slot: "green", Version: "v2", State: "running", Live: true, Weight: 100},
		},
		Router: api.RouterStatus{Slots: map[slot.Slot]api.RouterSlotStatus{
			slot.Blue:  {MCPSessions: 3, SessionDrainDeadline: now.Add(15 * time.Minute)},
			slot.Green: {MCPSessions: 1},
		}},
	}
	out := renderStatus(st, now)
	for _, want := range []string{
		"3 MCP sessions pinned: scale-down waits until they end, at most 15m0s (until 10:15:00)",
		"1 MCP session pinned\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	b := st.Router.Slots[slot.Blue]
	b.CanScaleDown = true
	st.Router.Slots[slot.Blue] = b
	if out := renderStatus(st, now); !strings.Contains(out, "3 MCP sessions pinned; session drain over: can scale down") {
		t.Errorf("status after the session drain:\n%s", out)
	}
	b.MCPSessions = 0
	st.Router.Slots[slot.Blue] = b
	if out := renderStatus(st, now); !strings.Contains(out, "no MCP session pinned: nothing holds up its scale-down") {
		t.Errorf("status without sessions:\n%s", out)
	}
}
