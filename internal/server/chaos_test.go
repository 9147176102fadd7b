package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bluegreen-dev/bluegreen/internal/capture"
	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/deploy"
	"github.com/bluegreen-dev/bluegreen/internal/store"
	"github.com/bluegreen-dev/bluegreen/internal/store/sqlite"
)

// smallFS mounts a tmpfs of size bytes for the test (root only; the test
// is skipped, saying why, where mount is not allowed).
func smallFS(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs for the disk-full case (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fill writes to path until the file system is full.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill: %v, want ENOSPC", err)
			}
			return
		}
	}
}

// TestStateLostMidShift: the SQLite state's file system becomes full while
// a linear deployment shifts under load. (A read-only remount is refused
// by the kernel while SQLite holds the file open for writing, so a
// full disk is the write failure a test can cause; the controller meets
// both as a failed commit.) The deployment
// stops advancing with the store's error in the log, the router keeps the
// last route it persisted, clients see no failure; when the disk comes
// back the deployment goes on from where it stopped and succeeds, with
// each step persisted once and in order.
func TestStateLostMidShift(t *testing.T) {
	for _, mode := range []string{"full"} {
		t.Run(mode, func(t *testing.T) { stateLostMidShift(t, mode) })
	}
}

func stateLostMidShift(t *testing.T, mode string) {
	dir := smallFS(t, 8<<20)
	cfg := config.Default()
	cfg.App = "shop"
	cfg.Routing.PreviewHeader.Name = ""
	cfg.BakeTime, cfg.ScaleDownDelay = 0, config.Duration(time.Hour)
	cfg.Health.Interval, cfg.Health.Timeout = config.Duration(10*time.Millisecond), config.Duration(time.Second)
	cfg.Health.HealthyThreshold = 1
	logs := &capture.Buffer{}
	log := slog.New(slog.NewTextHandler(io.MultiWriter(logs, t.Output()), &slog.HandlerOptions{Level: slog.LevelInfo}))
	st, err := sqlite.Open(t.Context(), filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	rt := newTestRuntime(t)
	s := &Server{cfg: cfg, log: log, store: st, runtime: rt}
	if s.router, err = newRouter(cfg, st, "", log, reg); err != nil {
		t.Fatal(err)
	}
	if s.ctrl, err = s.newController("", reg); err != nil {
		t.Fatal(err)
	}
	if err := s.ctrl.Restore(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		_ = st.Close()
	})
	wg.Go(func() { _ = s.router.Run(ctx) })
	wg.Go(func() { _ = s.ctrl.Run(ctx) })
	prod := httptest.NewServer(s.router.Production())
	t.Cleanup(prod.Close)

	d, err := s.ctrl.Deploy(t.Context(), "v1", "all-at-once")
	if err != nil {
		t.Fatal(err)
	}
	if d = waitDeployment(t, s, d.ID, func(d store.Deployment) bool { return !d.Active }); d.Phase != string(deploy.PhaseSucceeded) {
		t.Fatalf("v1: %s (%s)", d.Phase, d.Reason)
	}

	// Load through the whole run.
	var failed, answered atomic.Int64
	stop := make(chan struct{})
	var lg sync.WaitGroup
	for range 8 {
		lg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := http.Get(prod.URL + "/")
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
				} else {
					answered.Add(1)
				}
			}
		})
	}
	t.Cleanup(func() { close(stop); lg.Wait() })

	d, err = s.ctrl.Deploy(t.Context(), "v2", "linear 25% every 1s")
	if err != nil {
		t.Fatal(err)
	}
	d = waitDeployment(t, s, d.ID, func(d store.Deployment) bool { return d.Phase == string(deploy.PhaseShifting) && d.Weight == 25 })
	// The step is persisted before the router applies it.
	waitFor(t, "the router at 25%", func() bool { return s.router.Table().Weights[d.Slot] == 25 })

	filler := filepath.Join(dir, "filler")
	fillDisk(t, filler)
	lost := time.Now()
	waitFor(t, "the store's error in the log", func() bool { return strings.Contains(logs.String(), "reconcile failed") })
	// Several step intervals later nothing moved.
	time.Sleep(3 * time.Second)
	stuck := getDeployment(t, s, d.ID)
	tb := s.router.Table()
	live, weights := tb.Live, tb.Weights
	if stuck.Weight != 25 || weights[stuck.Slot] != 25 || live == stuck.Slot {
		t.Errorf("%s disk for %v: deployment at %d%% (%s), router %s %v; want it held at 25%% with the router on the last persisted route",
			mode, time.Since(lost).Round(time.Second), stuck.Weight, stuck.Phase, live, weights)
	}
	stored, err := s.store.LoadRoute(t.Context(), s.cfg.App)
	if err != nil || stored.Weights[stuck.Slot] != weights[stuck.Slot] {
		t.Errorf("stored route %+v (%v), router %v: the route is half-applied", stored, err, weights)
	}
	var lines []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "reconcile failed") {
			lines = append(lines, l)
		}
	}
	t.Logf("%s disk: %d reconcile errors logged, first: %s", mode, len(lines), lines[0])
	if !strings.Contains(lines[0], "full") {
		t.Errorf("the error does not say the disk is full: %s", lines[0])
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	d = waitDeployment(t, s, d.ID, func(d store.Deployment) bool { return !d.Active })
	if d.Phase != string(deploy.PhaseSucceeded) {
		t.Fatalf("v2 after the disk came back: %s (%s)", d.Phase, d.Reason)
	}
	evs, err := s.store.Events(t.Context(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	var steps []int
	for _, ev := range evs {
		if ev.Phase != string(deploy.PhaseShifting) {
			continue
		}
		var data struct{ Weight int }
		if err := json.Unmarshal(ev.Data, &data); err != nil {
			t.Fatal(err)
		}
		steps = append(steps, data.Weight)
	}
	// 100% is the bake's event, not a shifting step.
	if want := []int{25, 50, 75}; !slices.Equal(steps, want) {
		t.Errorf("shifting events %v, want %v: each step persisted once, in order", steps, want)
	}
	// The transition is persisted before the route is applied: the router
	// follows a moment after the phase.
	waitFor(t, "the router on the promoted slot", func() bool {
		tb := s.router.Table()
		return tb.Live == d.Slot && tb.Weights[d.Slot] == 100
	})
	t.Logf("%s disk: %d requests answered, %d failed", mode, answered.Load(), failed.Load())
	if failed.Load() != 0 {
		t.Errorf("%d requests failed", failed.Load())
	}
}
