package deploy

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

func TestPauseAndResumeKeepTheTimeLeft(t *testing.T) {
	h := newHarness(t, nil)
	ctx := h.ctx()
	h.seed(false)
	d := h.driveTo(h.deploy("v2", "linear 10% every 3m").ID, "step 1", inPhase(PhaseShifting))
	stepStart := lastEvent(t, h.events(d.ID), PhaseShifting).Time

	h.clock.Add(time.Minute)
	if err := h.c.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	h.idle()
	d = h.get(d.ID)
	x, err := readDetails(d)
	if err != nil {
		t.Fatal(err)
	}
	if Phase(d.Phase) != PhasePaused || Phase(d.Paused) != PhaseShifting || !d.Deadline.IsZero() || x.remaining() != 2*time.Minute {
		t.Fatalf("paused = %s (in %q, deadline %v, left %v), want paused in shifting with 2m left", d.Phase, d.Paused, d.Deadline, x.remaining())
	}
	st, err := h.c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Active == nil || st.Active.TimeLeft != "2m0s" || st.Active.PausedIn != PhaseShifting {
		t.Errorf("status while paused = %+v, want 2m0s left in shifting", st.Active)
	}

	// Time passes while paused: nothing moves.
	h.clock.Add(time.Hour)
	if s := h.idle(); !s.until.IsZero() {
		t.Errorf("paused controller wakes by itself at %v", s.until)
	}
	h.assertRoute(slot.Blue, 90, 10)
	if d := h.get(d.ID); Phase(d.Phase) != PhasePaused || d.Weight != 10 {
		t.Fatalf("after an hour paused: %s at %d%%", d.Phase, d.Weight)
	}

	resumed := h.clock.Now()
	if err := h.c.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if d := h.get(d.ID); Phase(d.Phase) != PhaseShifting || !d.Deadline.Equal(resumed.Add(2*time.Minute)) {
		t.Fatalf("resumed = %s, deadline %v, want shifting until %v", d.Phase, d.Deadline, resumed.Add(2*time.Minute))
	}
	d = h.driveTo(d.ID, "step 2", func(d store.Deployment) bool { return d.Step == 1 })
	evs := h.events(d.ID)
	step2 := lastEvent(t, evs, PhaseShifting)
	if got := step2.Time.Sub(resumed); got != 2*time.Minute {
		t.Errorf("step 2 came %v after resume, want the 2m that were left", got)
	}
	if step2.Time.Sub(stepStart) == 3*time.Minute {
		t.Errorf("step 2 came on the original schedule: pause did not hold the step")
	}
	// 10 (step 1), 10 (resumed into step 1), 20 (step 2).
	if got := weights(t, evs, PhaseShifting, PhaseBaking); !slices.Equal(got, []int{10, 10, 20}) {
		t.Errorf("weights = %v", got)
	}
	if d := h.finish(d.ID); Phase(d.Phase) != PhaseSucceeded {
		t.Errorf("after resume the deployment ended %s", d.Phase)
	}
}

func TestPauseInBakingKeepsTheBakeTimeLeft(t *testing.T) {
	h := newHarness(t, nil)
	ctx := h.ctx()
	h.seed(false)
	d := h.driveTo(h.deploy("v2", "all-at-once").ID, "baking", inPhase(PhaseBaking))
	h.clock.Add(2 * time.Minute)
	if err := h.c.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(time.Hour)
	resumed := h.clock.Now()
	if err := h.c.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	d = h.finish(d.ID)
	if got := lastEvent(t, h.events(d.ID), PhaseSucceeded).Time.Sub(resumed); Phase(d.Phase) != PhaseSucceeded || got != testBake-2*time.Minute {
		t.Errorf("%s %v after resume, want succeeded after the 3m of bake left", d.Phase, got)
	}
}

func TestPromoteSkipsTheRemainingSteps(t *testing.T) {
	h := newHarness(t, nil)
	h.seed(false)
	d := h.driveTo(h.deploy("v2", "linear 10% every 3m").ID, "step 2", func(d store.Deployment) bool { return d.Step == 1 })
	promoted := h.clock.Now()
	if err := h.c.Promote(h.ctx()); err != nil {
		t.Fatal(err)
	}
	d = h.get(d.ID)
	if Phase(d.Phase) != PhaseSucceeded {
		t.Fatalf("after promote: %s (%s)", d.Phase, d.Reason)
	}
	evs := h.events(d.ID)
	if got := weights(t, evs, PhaseShifting, PhaseBaking); !slices.Equal(got, []int{10, 20, 100}) {
		t.Errorf("weights = %v, want 10, 20 then straight to 100", got)
	}
	if bake := lastEvent(t, evs, PhaseBaking); !strings.Contains(bake.Reason, "promoted") {
		t.Errorf("baking event reason = %q, want it to say promoted", bake.Reason)
	}
	if got := lastEvent(t, evs, PhaseSucceeded).Time; !got.Equal(promoted) {
		t.Errorf("succeeded at %v, want at once (%v): promote skips the bake", got, promoted)
	}
	h.assertRoute(slot.Green, 0, 100)
}

func TestAbortRestoresTheRouteAndStopsTheNewRelease(t *testing.T) {
	for _, at := range []Phase{PhaseWaitingReady, PhaseShifting, PhasePaused} {
		t.Run(string(at), func(t *testing.T) {
			h := newHarness(t, nil)
			ctx := h.ctx()
			h.seed(false)
			if at == PhaseWaitingReady {
				h.setSick(slot.Green, true)
			}
			d := h.driveTo(h.deploy("v2", "linear 10% every 3m").ID, "weight 20", func(d store.Deployment) bool {
				return Phase(d.Phase) == at || d.Weight == 20
			})
			if at == PhasePaused {
				if err := h.c.Pause(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if err := h.c.Abort(ctx); err != nil {
				t.Fatal(err)
			}
			d = h.get(d.ID)
			if Phase(d.Phase) != PhaseAborted || d.Active || d.Weight != 0 || d.EndedAt.IsZero() {
				t.Fatalf("after abort: %s active=%v weight=%d", d.Phase, d.Active, d.Weight)
			}
			if ev := lastEvent(t, h.events(d.ID), PhaseAborted); !strings.Contains(ev.Reason, "aborted by a person") {
				t.Errorf("aborted event reason = %q", ev.Reason)
			}
			h.assertRoute(slot.Blue, 100, 0)
			h.idle()
			if s := h.slot(slot.Green); s.State != slot.Stopped || h.rt.runs(slot.Green) != "" {
				t.Errorf("slot green = %+v, runtime %q; want stopped", s, h.rt.runs(slot.Green))
			}
			if s := h.slot(slot.Blue); s.State != slot.Running || !s.StopAt.IsZero() {
				t.Errorf("slot blue = %+v, want running with no scale-down", s)
			}
		})
	}
}

func TestFailAfterTrafficMovedRollsBack(t *testing.T) {
	h := newHarness(t, nil)
	h.seed(false)
	d := h.driveTo(h.deploy("v2", "canary 5% for 10m").ID, "canary", inPhase(PhaseShifting))
	verdict := json.RawMessage(`{"error_rate":0.05,"max":0.01}`)
	if err := h.c.Fail(h.ctx(), "error rate 5% above 1%", verdict); err != nil {
		t.Fatal(err)
	}
	d = h.finish(d.ID)
	if Phase(d.Phase) != PhaseRolledBack {
		t.Fatalf("after Fail: %s, want rolled_back", d.Phase)
	}
	evs := h.events(d.ID)
	if got := phases(evs)[len(evs)-2:]; !slices.Equal(got, []Phase{PhaseRollingBack, PhaseRolledBack}) {
		t.Errorf("last events = %v", got)
	}
	if rb := lastEvent(t, evs, PhaseRollingBack); rb.Reason != "error rate 5% above 1%" || !strings.Contains(string(rb.Data), `"error_rate":0.05`) {
		t.Errorf("rolling_back event = %q %s", rb.Reason, rb.Data)
	}
	x, err := readDetails(d)
	if err != nil {
		t.Fatal(err)
	}
	if string(x.Failure) != string(verdict) {
		t.Errorf("stored failure = %s", x.Failure)
	}
	h.assertRoute(slot.Blue, 100, 0)
	if s := h.slot(slot.Green); s.State != slot.Stopped || h.rt.runs(slot.Green) != "" {
		t.Errorf("slot green = %+v, want stopped", s)
	}
}

func TestFailBeforeTrafficMovedFails(t *testing.T) {
	h := newHarness(t, nil)
	h.seed(false)
	h.setSick(slot.Green, true)
	d := h.driveTo(h.deploy("v2", "").ID, "waiting", inPhase(PhaseWaitingReady))
	if err := h.c.Fail(h.ctx(), "schema gate refused", nil); err != nil {
		t.Fatal(err)
	}
	d = h.finish(d.ID)
	if Phase(d.Phase) != PhaseFailed || d.Reason != "schema gate refused" {
		t.Fatalf("after Fail: %s (%s), want failed", d.Phase, d.Reason)
	}
	if slices.Contains(phases(h.events(d.ID)), PhaseRollingBack) {
		t.Errorf("rolled back although no traffic moved")
	}
	h.assertRoute(slot.Blue, 100, 0)
	if s := h.slot(slot.Green); s.State != slot.Stopped {
		t.Errorf("slot green = %+v, want stopped", s)
	}
}

func TestSecondDeployWhileActiveIsRefused(t *testing.T) {
	h := newHarness(t, nil)
	h.seed(false)
	h.setSick(slot.Green, true)
	first := h.deploy("v2", "")
	_, err := h.c.Deploy(h.ctx(), "v3", "")
	if !errors.Is(err, store.ErrActiveDeployment) {
		t.Fatalf("second deploy: %v, want ErrActiveDeployment", err)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("deployment %d", first.ID)) {
		t.Errorf("error %q does not name the active deployment %d", err, first.ID)
	}
}

func TestConcurrentDeploysAcceptExactlyOne(t *testing.T) {
	h := newHarness(t, nil)
	h.seed(false)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		oks  int
		errs []error
	)
	for _, v := range []string{"v2", "v3", "v4", "v5"} {
		wg.Go(func() {
			_, err := h.c.Deploy(h.ctx(), v, "")
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				oks++
			} else {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if oks != 1 {
		t.Fatalf("%d deploys accepted, want exactly 1", oks)
	}
	for _, err := range errs {
		if !errors.Is(err, store.ErrActiveDeployment) {
			t.Errorf("refused with %v, want ErrActiveDeployment", err)
		}
	}
}

func TestCommandErrorsAreClear(t *testing.T) {
	h := newHarness(t, nil)
	ctx := h.ctx()
	for name, cmd := range map[string]func() error{
		"pause": func() error { return h.c.Pause(ctx) }, "resume": func() error { return h.c.Resume(ctx) },
		"promote": func() error { return h.c.Promote(ctx) }, "abort": func() error { return h.c.Abort(ctx) },
		"fail": func() error { return h.c.Fail(ctx, "x", nil) },
	} {
		if err := cmd(); !errors.Is(err, ErrNoActiveDeployment) {
			t.Errorf("%s with nothing active: %v, want ErrNoActiveDeployment", name, err)
		}
	}
	if _, err := h.c.Rollback(ctx); !errors.Is(err, ErrNothingToRollBack) {
		t.Errorf("rollback with no history: %v", err)
	}
	if _, err := h.c.Deploy(ctx, "v1", "linear 10 every 3m"); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad strategy: %v, want ErrInvalid", err)
	}
	if _, err := h.c.Deploy(ctx, " ", ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty version: %v, want ErrInvalid", err)
	}
	h.seed(false)
	if _, err := h.c.Rollback(ctx); !errors.Is(err, ErrNothingToRollBack) || !strings.Contains(err.Error(), "first release") {
		t.Errorf("rollback after the first release: %v", err)
	}

	h.setSick(slot.Green, true)
	h.driveTo(h.deploy("v2", "").ID, "waiting", inPhase(PhaseWaitingReady))
	for name, cmd := range map[string]func() error{
		"pause": func() error { return h.c.Pause(ctx) }, "resume": func() error { return h.c.Resume(ctx) },
		"promote": func() error { return h.c.Promote(ctx) },
	} {
		if err := cmd(); !errors.Is(err, ErrNotAllowed) || !strings.Contains(err.Error(), "waiting_ready") {
			t.Errorf("%s while waiting_ready: %v, want ErrNotAllowed naming the phase", name, err)
		}
	}
	if _, err := h.c.SetRoute(ctx, slot.Green, nil); !errors.Is(err, store.ErrActiveDeployment) {
		t.Errorf("manual route during a deployment: %v, want ErrActiveDeployment", err)
	}
}

func TestManualRoute(t *testing.T) {
	h := newHarness(t, nil)
	ctx := h.ctx()
	h.seed(true)            // v2 live on green, v1 warm on blue
	h.router.setBefore(nil) // routes by hand differ from the last deployment
	r, err := h.c.SetRoute(ctx, "", map[slot.Slot]int{slot.Blue: 30})
	if err != nil {
		t.Fatal(err)
	}
	if r.Live != slot.Green || r.Weights[slot.Blue] != 30 || r.Weights[slot.Green] != 70 {
		t.Errorf("route = %+v", r)
	}
	if stored := h.storedRoute(); r.UpdatedAt.IsZero() || !r.UpdatedAt.Equal(stored.UpdatedAt) {
		t.Errorf("route answered updated_at %s, want the stored time %s", r.UpdatedAt, stored.UpdatedAt)
	}
	h.assertRoute(slot.Green, 30, 70)
	if _, err := h.c.Deploy(ctx, "v3", ""); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("deploy into a slot with traffic: %v, want ErrNotAllowed", err)
	}
	if _, err := h.c.SetRoute(ctx, "", map[slot.Slot]int{slot.Blue: 60, slot.Green: 60}); !errors.Is(err, ErrInvalid) {
		t.Errorf("weights over 100: %v", err)
	}
	// Past blue's scale-down time, a slot with traffic keeps running…
	if st := h.idle(); !st.until.IsZero() {
		t.Errorf("a scale-down is scheduled at %v for a slot with traffic", st.until)
	}
	h.clock.Add(2 * testScaleDown)
	if _, err := h.c.SetRoute(ctx, "", map[slot.Slot]int{slot.Blue: 30}); err != nil {
		t.Fatal(err)
	}
	h.idle()
	if h.rt.runs(slot.Blue) != "v1" || h.slot(slot.Blue).State != slot.Running {
		t.Fatal("a slot with traffic was scaled down")
	}
	// …and once it has none, stays warm for scale_down_delay from then
	// (instant rollback by hand), then stops.
	if _, err := h.c.SetRoute(ctx, slot.Green, nil); err != nil {
		t.Fatal(err)
	}
	h.idle()
	if h.rt.runs(slot.Blue) != "v1" || h.slot(slot.Blue).StopAt.IsZero() {
		t.Fatalf("blue right after losing its traffic: runs %q, stop at %v; want warm with a scale-down scheduled", h.rt.runs(slot.Blue), h.slot(slot.Blue).StopAt)
	}
	stopAt := h.slot(slot.Blue).StopAt
	h.drive("blue scaled down", func() bool { return h.slot(slot.Blue).State == slot.Stopped })
	if now := h.clock.Now(); now.Before(stopAt) {
		t.Errorf("blue stopped at %v, before its scale-down time %v", now, stopAt)
	}
	if h.rt.runs(slot.Blue) != "" {
		t.Errorf("blue still runs %q after its scale-down", h.rt.runs(slot.Blue))
	}
	h.assertRoute(slot.Green, 0, 100)
}

// TestManualRouteSchedulesScaleDown: the live slot of the last deployment
// left without traffic by a route by hand is scaled down after
// scale_down_delay, like any old slot (it used to run forever), and the
// slot given the traffic is no longer scheduled to stop.
func TestManualRouteSchedulesScaleDown(t *testing.T) {
	h := newHarness(t, nil)
	ctx := h.ctx()
	h.seed(true) // v2 live on green, v1 warm on blue
	h.router.setBefore(nil)
	if _, err := h.c.SetRoute(ctx, slot.Blue, nil); err != nil {
		t.Fatal(err)
	}
	h.idle()
	if !h.slot(slot.Blue).StopAt.IsZero() {
		t.Errorf("blue gets all traffic, yet a scale-down is scheduled at %v", h.slot(slot.Blue).StopAt)
	}
	if h.slot(slot.Green).StopAt.IsZero() {
		t.Fatal("green, left without traffic by hand, has no scale-down scheduled")
	}
	h.drive("green scaled down", func() bool { return h.slot(slot.Green).State == slot.Stopped })
	if h.rt.runs(slot.Green) != "" {
		t.Errorf("green, left without traffic by hand, still runs %q after its scale-down", h.rt.runs(slot.Green))
	}
	if h.rt.runs(slot.Blue) != "v1" {
		t.Errorf("blue runs %q, want v1 kept", h.rt.runs(slot.Blue))
	}
	h.assertRoute(slot.Blue, 100, 0)
}
