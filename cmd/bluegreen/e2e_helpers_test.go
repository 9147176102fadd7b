package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/api"
	"github.com/bluegreen-dev/bluegreen/internal/capture"
	"github.com/bluegreen-dev/bluegreen/internal/e2ebin"
	"github.com/bluegreen-dev/bluegreen/internal/pgtest"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// The binaries under test, built once by TestMain.
var bins struct{ bluegreen, shop string }

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bluegreen-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins.bluegreen = filepath.Join(dir, "bluegreen")
	bins.shop = filepath.Join(dir, "shop")
	for out, pkg := range map[string]string{bins.bluegreen: ".", bins.shop: "../../examples/shop"} {
		cmd := exec.Command("go", "build", "-race", "-o", out, pkg)
		if msg, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, msg)
			os.Exit(1)
		}
	}
	// pgtest.Run: tests that need PostgreSQL (pgtest.URL) get a throwaway
	// cluster, stopped after the tests.
	code := pgtest.Run(m)
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// app is one bluegreen setup in a temp dir: config, tokens, a serve process.
type app struct {
	t              *testing.T
	bin            string // the bluegreen binary serve runs; bins.bluegreen when ""
	dir, cfg, shop string
	prod, admin    string
	serve          *exec.Cmd
	serveDone      chan error
	logs           *capture.Buffer
}

type appOptions struct {
	strategy       string
	bake           string
	scaleDownDelay string
	// shopArgs are added to the shop's command line (all versions).
	shopArgs []string
	// extra is YAML appended to the config (such as an analysis section).
	extra string
}

func newApp(t *testing.T, o appOptions) *app {
	t.Helper()
	if o.strategy == "" {
		o.strategy = "all-at-once"
	}
	if o.bake == "" {
		o.bake = "1s"
	}
	if o.scaleDownDelay == "" {
		o.scaleDownDelay = "10m"
	}
	dir := t.TempDir()
	// Each test runs its own copy of the shop, so its processes can be
	// found by path and nothing else's.
	shop := filepath.Join(dir, "shop")
	data, err := os.ReadFile(bins.shop)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(shop, data, 0o755); err != nil {
		t.Fatal(err)
	}
	ports := mustFreePorts(t, 3)
	a := &app{t: t, dir: dir, shop: shop, cfg: filepath.Join(dir, "bluegreen.yaml"),
		prod: fmt.Sprintf("127.0.0.1:%d", ports[0]), admin: fmt.Sprintf("127.0.0.1:%d", ports[2])}
	yaml := fmt.Sprintf(`app: shop
listen: %s
preview_listen: 127.0.0.1:%d
admin_listen: %s
driver:
  kind: process
  process:
    command: [%q, "--listen", "127.0.0.1:{port}", "--version", "{version}", "--slot", "{slot}"%s]
    instances: 2
    stop_timeout: 5s
health: { path: /health, interval: 100ms, timeout: 1s, healthy_threshold: 2, unhealthy_threshold: 2, ready_timeout: 30s }
routing: { drain_timeout: 5s }
strategy: %s
bake_time: %s
scale_down_delay: %s
checks:
  - name: health
    http: { path: /health, expect: { status: 200, json: { status: healthy } } }
`, a.prod, ports[1], a.admin, shop, quotedArgs(o.shopArgs), o.strategy, o.bake, o.scaleDownDelay) + o.extra
	if err := os.WriteFile(a.cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{".bluegreen/admin.token", ".bluegreen/preview.secret"} {
		if _, err := writeSecret(filepath.Join(dir, s)); err != nil {
			t.Fatal(err)
		}
	}
	a.logs = &capture.Buffer{}
	t.Cleanup(func() {
		a.stop()
		if left := a.shopProcesses(); len(left) > 0 {
			t.Errorf("shop processes left after the test: %v", left)
			for _, pid := range left {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if t.Failed() {
			t.Logf("serve logs:\n%s", a.logs.String())
		}
	})
	return a
}

// start runs `bluegreen serve` and waits until its admin API answers.
func (a *app) start(env ...string) {
	a.t.Helper()
	bin := a.bin
	if bin == "" {
		bin = bins.bluegreen
	}
	cmd := exec.Command(bin, "serve", "-c", a.cfg, "--log-level", "debug")
	cmd.Env = append(os.Environ(), env...)
	// The output goes through a pipe of our own, handed to serve as a file:
	// Wait then returns when serve exits, even when a serve it handed off
	// to still writes to the pipe (the copy below runs until every writer
	// is gone).
	r, w, err := os.Pipe()
	if err != nil {
		a.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	err = cmd.Start()
	_ = w.Close() // serve has its own copy
	if err != nil {
		_ = r.Close()
		a.t.Fatal(err)
	}
	go func() {
		_, _ = io.Copy(a.logs, r)
		_ = r.Close()
	}()
	a.serve = cmd
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	a.serveDone = done
	waitFor(a.t, 30*time.Second, "serve to answer", func() bool {
		select {
		case err := <-done:
			a.t.Fatalf("serve exited early: %v\n%s", err, a.logs.String())
		default:
		}
		_, _, code := a.cli("status", "--json")
		return code == 0
	})
}

// stop sends SIGTERM and waits for a graceful exit (exit 0).
func (a *app) stop() {
	if a.serve == nil {
		return
	}
	e2ebin.StopServe(a.t, a.serve.Process, a.serveDone)
	a.serve = nil
}

// waitExit waits for serve to exit by itself (a crash point killed it).
func (a *app) waitExit(within time.Duration) {
	a.t.Helper()
	select {
	case <-a.serveDone:
		a.serve = nil
	case <-time.After(within):
		a.t.Fatalf("serve did not exit within %s", within)
	}
}

// cli runs a bluegreen command against this app.
func (a *app) cli(args ...string) (stdout, stderr string, code int) {
	cmd := exec.Command(bins.bluegreen, append(args, "-c", a.cfg)...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			a.t.Fatalf("run bluegreen %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return o.String(), e.String(), code
}

func (a *app) status() api.Status {
	a.t.Helper()
	out, errOut, code := a.cli("status", "--json")
	if code != 0 {
		a.t.Fatalf("status: exit %d: %s", code, errOut)
	}
	var st api.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		a.t.Fatalf("status json: %v\n%s", err, out)
	}
	return st
}

// deployWait runs `bluegreen deploy VERSION --wait` and returns its exit code.
func (a *app) deployWait(version string, extra ...string) (string, int) {
	out, errOut, code := a.cli(append([]string{"deploy", version, "--wait"}, extra...)...)
	return out + errOut, code
}

type historyEntry struct {
	store.Deployment
	Events []store.Event `json:"events"`
}

func (a *app) history() []historyEntry {
	a.t.Helper()
	out, errOut, code := a.cli("history", "--json")
	if code != 0 {
		a.t.Fatalf("history: exit %d: %s", code, errOut)
	}
	var hs []historyEntry
	if err := json.Unmarshal([]byte(out), &hs); err != nil {
		a.t.Fatalf("history json: %v\n%s", err, out)
	}
	return hs
}

// shopProcesses lists live (not zombie) processes running this app's shop.
func (a *app) shopProcesses() []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !bytes.HasPrefix(cmdline, []byte(a.shop+"\x00")) {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			continue // a zombie: dead, waiting to be reaped by init
		}
		pids = append(pids, pid)
	}
	return pids
}

// load sends steady GETs to the production listener and counts outcomes.
type load struct {
	cancel          context.CancelFunc
	wg              sync.WaitGroup
	ok, failed      atomic.Int64
	mu              sync.Mutex
	errs            []string
	slots, versions map[string]int
}

func startLoadOn(t *testing.T, addr string, clients int) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{cancel: cancel, slots: map[string]int{}, versions: map[string]int{}}
	client := &http.Client{Timeout: 10 * time.Second}
	for range clients {
		l.wg.Go(func() {
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/", nil)
				res, err := client.Do(req)
				if ctx.Err() != nil {
					return
				}
				if err != nil {
					l.fail(err.Error())
					continue
				}
				var body struct {
					Version string `json:"version"`
				}
				derr := json.NewDecoder(res.Body).Decode(&body)
				_ = res.Body.Close()
				if res.StatusCode != 200 || derr != nil {
					l.fail(fmt.Sprintf("status %d, decode %v", res.StatusCode, derr))
					continue
				}
				l.ok.Add(1)
				l.mu.Lock()
				l.slots[res.Header.Get("X-Bluegreen-Slot")]++
				l.versions[body.Version]++
				l.mu.Unlock()
				time.Sleep(5 * time.Millisecond) // pacing the load, not synchronisation
			}
		})
	}
	t.Cleanup(l.stop)
	return l
}

func (l *load) fail(msg string) {
	l.failed.Add(1)
	l.mu.Lock()
	if len(l.errs) < 10 {
		l.errs = append(l.errs, msg)
	}
	l.mu.Unlock()
}

func (l *load) stop() { l.cancel(); l.wg.Wait() }

func (l *load) check(t *testing.T) {
	t.Helper()
	l.stop()
	if n := l.failed.Load(); n > 0 {
		t.Errorf("%d of %d client requests failed; first: %v", n, n+l.ok.Load(), l.errs)
	}
	if l.ok.Load() == 0 {
		t.Errorf("the load generator got no answer at all")
	}
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func mustFreePorts(t *testing.T, n int) []int {
	t.Helper()
	ports, err := freePorts(n)
	if err != nil {
		t.Fatal(err)
	}
	return ports
}

func phasesOf(evs []store.Event) []string {
	var ps []string
	for _, ev := range evs {
		if len(ps) == 0 || ps[len(ps)-1] != ev.Phase {
			ps = append(ps, ev.Phase)
		}
	}
	return ps
}

// crashEnv is the fault-injection switch of internal/server.
const crashEnv = "BLUEGREEN_FAULT_CRASH_AFTER"

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// quotedArgs writes args as further items of a YAML flow list.
func quotedArgs(args []string) string {
	var b strings.Builder
	for _, a := range args {
		fmt.Fprintf(&b, ", %q", a)
	}
	return b.String()
}
