package server

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/deploy"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store"
	"github.com/bluegreen-dev/bluegreen/internal/store/sqlite"
)

// hang bounds every wait of these tests on the real clock: only a hang
// reaches it.
const hang = 20 * time.Second

// testRuntime runs each slot's release on one httptest backend; the
// backend holds a request to /slow until the test releases it.
type testRuntime struct {
	addrs   map[slot.Slot]string
	started chan slot.Slot // a /slow request reached that slot
	release chan struct{}

	mu    sync.Mutex
	stops map[slot.Slot]int
}

func newTestRuntime(t *testing.T) *testRuntime {
	rt := &testRuntime{addrs: map[slot.Slot]string{}, started: make(chan slot.Slot, 4), release: make(chan struct{}), stops: map[slot.Slot]int{}}
	for _, sl := range slot.All() {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/slow" {
				rt.started <- sl
				select {
				case <-rt.release:
				case <-r.Context().Done():
				}
			}
			w.WriteHeader(http.StatusOK)
		}))
		t.Cleanup(srv.Close)
		rt.addrs[sl] = srv.Listener.Addr().String()
	}
	return rt
}

func (rt *testRuntime) Start(_ context.Context, sl slot.Slot, _ string) ([]string, error) {
	return []string{rt.addrs[sl]}, nil
}

func (rt *testRuntime) Stop(_ context.Context, sl slot.Slot) error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.stops[sl]++
	return nil
}

func (rt *testRuntime) stopCount(sl slot.Slot) int {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.stops[sl]
}

func (*testRuntime) Running(slot.Slot) []string                       { return nil }
func (*testRuntime) Instances(slot.Slot) any                          { return nil }
func (*testRuntime) Close(context.Context) error                      { return nil }
func (*testRuntime) Stuck(context.Context, slot.Slot) (string, error) { return "", nil }
func (rt *testRuntime) slow(t *testing.T, url string)                 { go func() { _, _ = http.Get(url + "/slow") }() }

// drainingServer is the controller wired to a real router, as New wires
// them, with v1 live and v2 just promoted (all-at-once, no bake, no
// scale-down delay): v1's slot has a request in flight that the 10-minute
// drain_timeout lets run, so that slot is stopping and waits for it.
func drainingServer(t *testing.T) (s *Server, rt *testRuntime, old slot.Slot) {
	t.Helper()
	cfg := config.Default()
	cfg.App = "shop"
	cfg.Routing.PreviewHeader.Name = "" // the preview listener only
	cfg.Routing.DrainTimeout = config.Duration(10 * time.Minute)
	cfg.BakeTime, cfg.ScaleDownDelay = 0, 0
	cfg.Health.Interval, cfg.Health.Timeout = config.Duration(10*time.Millisecond), config.Duration(time.Second)
	cfg.Health.HealthyThreshold = 1
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	reg := prometheus.NewRegistry()
	rt = newTestRuntime(t)
	s = &Server{cfg: cfg, log: log, store: st, runtime: rt}
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
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() { _ = s.router.Run(ctx) })
	wg.Go(func() {
		if err := s.ctrl.Run(ctx); err != nil {
			t.Errorf("controller: %v", err)
		}
	})
	prod := httptest.NewServer(s.router.Production())
	t.Cleanup(prod.Close)

	finish := func(version string) store.Deployment {
		t.Helper()
		d, err := s.ctrl.Deploy(t.Context(), version, "all-at-once")
		if err != nil {
			t.Fatal(err)
		}
		return waitDeployment(t, s, d.ID, func(d store.Deployment) bool { return !d.Active })
	}
	if d := finish("v1"); d.Phase != string(deploy.PhaseSucceeded) {
		t.Fatalf("v1: %s (%s)", d.Phase, d.Reason)
	}
	old = liveSlot(t, s)
	rt.slow(t, prod.URL)
	if got := recvWithin(t, rt.started, "the slow request"); got != old {
		t.Fatalf("slow request on %s, want the live %s", got, old)
	}
	if d := finish("v2"); d.Phase != string(deploy.PhaseSucceeded) {
		t.Fatalf("v2: %s (%s)", d.Phase, d.Reason)
	}
	// Cleanups run last first: the held request ends before the servers
	// close (which waits for it).
	t.Cleanup(func() { close(rt.release) })
	waitFor(t, "the old slot stopping", func() bool { return !slotOf(t, s, old).StoppingSince.IsZero() })
	if rt.stopCount(old) != 0 {
		t.Fatalf("%s stopped while a request runs on it", old)
	}
	return s, rt, old
}

// A rollback issued while the old slot drains a long request acts at
// once: the old slot is still warm, traffic goes back to it, and it is
// neither ended nor stopped.
func TestRollbackDuringADrain(t *testing.T) {
	s, rt, old := drainingServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	d, err := s.ctrl.Rollback(ctx)
	if err != nil {
		t.Fatalf("rollback during the drain: %v", err)
	}
	if d.Phase != string(deploy.PhaseSucceeded) || d.Slot != old {
		t.Fatalf("rollback = %s into %s (%s), want succeeded into %s", d.Phase, d.Slot, d.Reason, old)
	}
	if live := liveSlot(t, s); live != old {
		t.Errorf("live slot %s, want %s again", live, old)
	}
	if sl := slotOf(t, s, old); !sl.StoppingSince.IsZero() || sl.State != slot.Running {
		t.Errorf("%s = %+v, want running, no longer stopping", old, sl)
	}
	if rt.stopCount(old) != 0 {
		t.Errorf("%s stopped %d times, want never", old, rt.stopCount(old))
	}
}

// A deployment into the draining slot waits for the drain in
// provisioning; an abort issued meanwhile acts at once.
func TestAbortDuringADrain(t *testing.T) {
	s, rt, old := drainingServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	d, err := s.ctrl.Deploy(ctx, "v3", "all-at-once")
	if err != nil {
		t.Fatal(err)
	}
	if d.Slot != old {
		t.Fatalf("v3 goes into %s, want the draining %s", d.Slot, old)
	}
	waitDeployment(t, s, d.ID, func(d store.Deployment) bool { return d.Phase == string(deploy.PhaseProvisioning) })
	if err := s.ctrl.Abort(ctx); err != nil {
		t.Fatalf("abort during the drain: %v", err)
	}
	if d = getDeployment(t, s, d.ID); d.Phase != string(deploy.PhaseAborted) {
		t.Fatalf("v3 = %s (%s), want aborted", d.Phase, d.Reason)
	}
	if live := liveSlot(t, s); live == old {
		t.Errorf("live slot %s, want v2's", live)
	}
	if rt.stopCount(old) != 0 {
		t.Errorf("%s stopped %d times while its request runs, want never", old, rt.stopCount(old))
	}
}

func recvWithin[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(hang):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

// waitFor polls cond until it holds, failing after hang.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	limit := time.After(hang)
	for !cond() {
		select {
		case <-tick.C:
		case <-limit:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func getDeployment(t *testing.T, s *Server, id int64) store.Deployment {
	t.Helper()
	d, err := s.store.GetDeployment(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func waitDeployment(t *testing.T, s *Server, id int64, cond func(store.Deployment) bool) store.Deployment {
	t.Helper()
	var d store.Deployment
	waitFor(t, "the deployment", func() bool { d = getDeployment(t, s, id); return cond(d) })
	return d
}

func liveSlot(t *testing.T, s *Server) slot.Slot {
	t.Helper()
	r, err := s.store.LoadRoute(t.Context(), s.cfg.App)
	if err != nil {
		t.Fatal(err)
	}
	return r.Live
}

func slotOf(t *testing.T, s *Server, sl slot.Slot) store.SlotState {
	t.Helper()
	slots, err := s.store.LoadSlots(t.Context(), s.cfg.App)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range slots {
		if x.Slot == sl {
			return x
		}
	}
	return store.SlotState{Slot: sl, State: slot.Stopped}
}
