package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/api"
	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/daemon"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// The demo's release plan: short enough to watch in about a minute.
const (
	demoStrategy = "linear 25% every 4s"
	demoClients  = 4
)

func cmdDemo(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "demo", "[--keep]")
	keep := fs.Bool("keep", false, "keep the demo's directory (config, state, logs) afterwards")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "bluegreen-demo-")
	if err != nil {
		return err
	}
	defer func() {
		if *keep {
			fmt.Fprintf(e.stdout, "\nkept %s (bluegreen.yaml, .bluegreen/state.db, logs)\n", dir)
			return
		}
		_ = os.RemoveAll(dir)
	}()
	p := &demoPrinter{w: e.stdout, start: time.Now()}
	p.say("bluegreen demo: two releases of an example shop behind bluegreen's router, on this machine only.")
	p.say("working in %s", dir)

	shop, err := buildShop(ctx, dir)
	if err != nil {
		return err
	}
	cfg, err := writeDemoConfig(dir, shop)
	if err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	log := slog.New(slog.NewTextHandler(logFile, nil))

	srvCtx, stopServer := context.WithCancel(ctx)
	defer stopServer()
	srv, err := daemon.Start(srvCtx, cfg, log)
	if err != nil {
		return fmt.Errorf("start bluegreen: %w", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Run(srvCtx) }()
	stop := func() error {
		stopServer()
		return <-served
	}
	prod, preview, admin := srv.Addrs()
	p.say("bluegreen serves production on %s, preview on %s, admin API on %s", prod, preview, admin)
	c, err := clientFor(cfg)
	if err != nil {
		return errors.Join(err, stop())
	}

	err = runDemo(ctx, p, c, prod)
	if stopErr := stop(); stopErr != nil {
		err = errors.Join(err, fmt.Errorf("stop bluegreen: %w", stopErr))
	}
	if err != nil {
		fmt.Fprintf(e.stdout, "\nbluegreen's log: %s\n", logFile.Name())
		*keep = true
		return err
	}
	p.say("bluegreen stopped; its release processes stopped with it.")
	return nil
}

func runDemo(ctx context.Context, p *demoPrinter, c *client, prod string) error {
	p.step("1. first release: v1 (no traffic to compare with, so it goes straight to 100%%)")
	d, err := demoDeploy(ctx, c, "v1", "all-at-once")
	if err != nil {
		return err
	}
	if err := demoFollow(ctx, p, c, d.ID, nil); err != nil {
		return err
	}

	load := startLoad(ctx, prod)
	defer load.stop()
	p.step("2. steady traffic: %d clients send requests to the production listener", demoClients)
	if err := sleepCtx(ctx, 2*time.Second); err != nil {
		return err
	}
	p.say("%s", load.line())

	p.step("3. deploy v2 with %q: start in the idle slot, wait healthy, check through the preview route, shift", demoStrategy)
	d, err = demoDeploy(ctx, c, "v2", demoStrategy)
	if err != nil {
		return err
	}
	if err := demoFollow(ctx, p, c, d.ID, load); err != nil {
		return err
	}

	p.step("4. roll back: v1 is still warm in the old slot, so this is a route-table swap")
	oldSlot := d.Slot.Other()
	t0 := time.Now()
	var rb store.Deployment
	if err := c.do(ctx, "POST", "/api/v1/rollback", nil, &rb); err != nil {
		return fmt.Errorf("rollback: %w", err)
	}
	call := time.Since(t0)
	n, err := requestsUntil(ctx, prod, string(oldSlot))
	if err != nil {
		return err
	}
	p.say("the rollback call returned in %s (it persists the new route, then swaps it in memory);", call.Round(100*time.Microsecond))
	p.say("request number %d after it was served by %s (v1)", n, oldSlot)
	if err := demoFollow(ctx, p, c, rb.ID, load); err != nil {
		return err
	}
	if err := sleepCtx(ctx, time.Second); err != nil {
		return err
	}
	load.stop()

	p.step("5. summary")
	total, failed, per := load.totals()
	p.say("requests sent: %d, failed: %d", total, failed)
	for _, k := range sortedKeys(per) {
		p.say("  served by %-14s %d", k, per[k])
	}
	var ds []store.Deployment
	if err := c.do(ctx, "GET", "/api/v1/deployments?limit=10", nil, &ds); err != nil {
		return err
	}
	for i := len(ds) - 1; i >= 0; i-- {
		x := ds[i]
		p.say("  %-8s %d: %-3s into %-5s %-12s took %s", x.Kind, x.ID, x.Version, x.Slot, x.Phase, x.EndedAt.Sub(x.CreatedAt).Round(100*time.Millisecond))
	}
	if failed > 0 {
		return failErr(fmt.Errorf("%d of %d requests failed during the demo", failed, total))
	}
	p.say("zero failed requests through two switches and a rollback.")
	return nil
}

func demoDeploy(ctx context.Context, c *client, version, strategy string) (store.Deployment, error) {
	var d store.Deployment
	err := c.do(ctx, "POST", "/api/v1/deployments", map[string]string{"version": version, "strategy": strategy}, &d)
	if err != nil {
		return d, fmt.Errorf("deploy %s: %w", version, err)
	}
	return d, nil
}

// demoFollow prints each event of the deployment as it is persisted and,
// with load, a line per second with the requests each slot served.
func demoFollow(ctx context.Context, p *demoPrinter, c *client, id int64, load *loadGen) error {
	seen := 0
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	lastLoad := time.Now()
	for {
		var d struct {
			store.Deployment
			Events []store.Event `json:"events"`
		}
		if err := c.do(ctx, "GET", fmt.Sprintf("/api/v1/deployments/%d", id), nil, &d); err != nil {
			return err
		}
		for _, ev := range d.Events[min(seen, len(d.Events)):] {
			p.say("%-13s %s", ev.Phase, ev.Reason)
		}
		seen = len(d.Events)
		if load != nil && time.Since(lastLoad) >= time.Second {
			p.say("  %s", load.line())
			lastLoad = time.Now()
		}
		if !d.Active {
			if api.Phase(d.Phase) != api.PhaseSucceeded {
				return failErr(fmt.Errorf("deployment %d of %s ended %s: %s", d.ID, d.Version, d.Phase, d.Reason))
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// requestsUntil sends requests until one is served by slot and returns how
// many it took (1: the very first).
func requestsUntil(ctx context.Context, prod, slot string) (int, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	for i := 1; i <= 1000; i++ {
		s, err := getSlot(ctx, client, prod)
		if err != nil {
			return 0, err
		}
		if s == slot {
			return i, nil
		}
	}
	return 0, fmt.Errorf("no request reached %s after the rollback", slot)
}

func getSlot(ctx context.Context, client *http.Client, prod string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+prod+"/", nil)
	if err != nil {
		return "", err
	}
	res, err := client.Do(req)
	if err != nil {
		return "", err
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET / answered %s", res.Status)
	}
	return res.Header.Get("X-Bluegreen-Slot"), nil
}

// loadGen sends steady traffic and counts answers per slot.
type loadGen struct {
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex
	per     map[string]int // slot → requests, since start
	window  map[string]int // slot → requests, since the last line
	total   atomic.Int64
	failed  atomic.Int64
	stopped atomic.Bool
}

func startLoad(ctx context.Context, prod string) *loadGen {
	ctx, cancel := context.WithCancel(ctx)
	l := &loadGen{cancel: cancel, per: map[string]int{}, window: map[string]int{}}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: demoClients}}
	for range demoClients {
		l.wg.Go(func() {
			for ctx.Err() == nil {
				slot, err := getSlot(ctx, client, prod)
				if ctx.Err() != nil {
					return
				}
				l.total.Add(1)
				if err != nil {
					l.failed.Add(1)
				} else {
					l.mu.Lock()
					l.per[slot]++
					l.window[slot]++
					l.mu.Unlock()
				}
				select {
				case <-ctx.Done():
				case <-time.After(20 * time.Millisecond):
				}
			}
		})
	}
	return l
}

func (l *loadGen) stop() {
	if l.stopped.Swap(true) {
		return
	}
	l.cancel()
	l.wg.Wait()
}

// line reports requests per slot since the previous line.
func (l *loadGen) line() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := fmt.Sprintf("requests in the last second: blue %3d, green %3d; failed so far: %d",
		l.window[string(slot.Blue)], l.window[string(slot.Green)], l.failed.Load())
	l.window = map[string]int{}
	return s
}

func (l *loadGen) totals() (total, failed int64, per map[string]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	per = map[string]int{}
	for k, v := range l.per {
		per[k] = v
	}
	return l.total.Load(), l.failed.Load(), per
}

type demoPrinter struct {
	w     interface{ Write([]byte) (int, error) }
	start time.Time
}

func (p *demoPrinter) say(format string, args ...any) {
	fmt.Fprintf(p.w, "[%5.1fs] %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}

func (p *demoPrinter) step(format string, args ...any) {
	fmt.Fprintln(p.w)
	p.say(format, args...)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// buildShop builds the example app from this source tree.
func buildShop(ctx context.Context, dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "shop")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./examples/shop")
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the example app: %v\n%s", err, msg)
	}
	return out, nil
}

// moduleRoot finds bluegreen's source tree from the working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(data), "module github.com/bluegreen-dev/bluegreen\n") {
			if _, err := os.Stat(filepath.Join(dir, "examples", "shop")); err == nil {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("the demo builds examples/shop from bluegreen's source: run it inside a clone (`make demo`)")
		}
		dir = parent
	}
}

func writeDemoConfig(dir, shop string) (*config.Config, error) {
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	yaml := fmt.Sprintf(`# written by bluegreen demo
app: shop
listen: 127.0.0.1:%d
preview_listen: 127.0.0.1:%d
admin_listen: 127.0.0.1:%d
state: .bluegreen/state.db
admin_token_file: .bluegreen/admin.token
driver:
  kind: process
  process:
    command: [%q, "--listen", "127.0.0.1:{port}", "--version", "{version}", "--slot", "{slot}"]
    instances: 2
    stop_timeout: 5s
health:
  path: /health
  interval: 200ms
  timeout: 1s
  healthy_threshold: 2
  unhealthy_threshold: 2
  ready_timeout: 30s
routing:
  drain_timeout: 5s
  preview_header: { name: X-Canary-Version, value_file: .bluegreen/preview.secret }
strategy: %s
bake_time: 4s
scale_down_delay: 10m
checks:
  - name: health
    http: { path: /health, expect: { status: 200, json: { status: healthy } }, max_latency: 500ms }
  - name: home
    http: { path: /, expect: { status: 200, body_contains: shop } }
`, ports[0], ports[1], ports[2], shop, demoStrategy)
	path := filepath.Join(dir, "bluegreen.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		return nil, err
	}
	for _, secret := range []string{".bluegreen/admin.token", ".bluegreen/preview.secret"} {
		if _, err := writeSecret(filepath.Join(dir, secret)); err != nil {
			return nil, err
		}
	}
	return config.Load(path)
}

func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
