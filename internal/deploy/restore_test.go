package deploy

import (
	"slices"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// TestRestartMidDeploymentFinishes stops the controller in a phase, builds a
// new one on the same SQLite file (with an empty router, as a new process
// has), and checks it finishes with the persisted deadlines honoured.
func TestRestartMidDeploymentFinishes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		stopAt  func(store.Deployment) bool
		weights []int
	}{
		{"provisioning", inPhase(PhaseProvisioning), []int{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}},
		{"waiting_ready", inPhase(PhaseWaitingReady), []int{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}},
		{"shifting", func(d store.Deployment) bool { return d.Weight == 30 }, []int{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}},
		{"baking", inPhase(PhaseBaking), []int{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}},
		{"paused", inPhase(PhasePaused), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.seed(false)
			switch tc.name {
			case "provisioning":
				// Start fails for now: the loop stays in provisioning.
				h.rt.setStartErr(slot.Green, errFakeStart)
			case "waiting_ready":
				h.setSick(slot.Green, true)
			}
			d := h.deploy("v2", "linear 10% every 3m")
			if tc.name == "paused" {
				h.driveTo(d.ID, "weight 20", func(d store.Deployment) bool { return d.Weight == 20 })
				h.clock.Add(time.Minute)
				if err := h.c.Pause(h.ctx()); err != nil {
					t.Fatal(err)
				}
			}
			d = h.driveTo(d.ID, tc.name, tc.stopAt)
			before := h.clock.Now()
			h.clock.Add(time.Minute / 2) // the crash happens half a minute into it
			h.restart()

			// The new process re-adopted both slots and restored the route;
			// a deployment stuck before traffic moves stays so.
			h.idle()
			if got := h.router.backendsOf(slot.Blue); len(got) != 2 {
				t.Errorf("blue backends after restart = %v, want re-adopted", got)
			}
			if Phase(d.Phase) != PhaseProvisioning && len(h.router.backendsOf(slot.Green)) != 2 {
				t.Errorf("green backends after restart = %v, want re-adopted", h.router.backendsOf(slot.Green))
			}
			switch Phase(d.Phase) {
			case PhaseShifting, PhaseBaking, PhasePaused:
				h.assertRoute(slot.Blue, 100-d.Weight, d.Weight)
			default:
				h.assertRoute(slot.Blue, 100, 0)
			}
			h.rt.setStartErr(slot.Green, nil)
			h.setSick(slot.Green, false)
			if got := h.get(d.ID); got.Rev < d.Rev {
				t.Fatalf("deployment went back from rev %d to %d", d.Rev, got.Rev)
			}
			if Phase(d.Phase) == PhaseShifting || Phase(d.Phase) == PhaseBaking {
				// Still in the same step: its deadline was not reset.
				if got := h.get(d.ID); got.Step != d.Step || !got.Deadline.Equal(d.Deadline) {
					t.Errorf("after restart step %d until %v, want step %d until %v", got.Step, got.Deadline, d.Step, d.Deadline)
				}
			}

			if tc.name == "paused" {
				resumed := h.clock.Now()
				if err := h.c.Resume(h.ctx()); err != nil {
					t.Fatal(err)
				}
				next := h.driveTo(d.ID, "weight 30", func(d store.Deployment) bool { return d.Weight == 30 })
				if got := lastEvent(t, h.events(next.ID), PhaseShifting).Time.Sub(resumed); got != 2*time.Minute {
					t.Errorf("step after resume came %v later, want the 2m left when paused", got)
				}
			}

			end := h.finish(d.ID)
			if Phase(end.Phase) != PhaseSucceeded {
				t.Fatalf("after restart the deployment ended %s (%s)", end.Phase, end.Reason)
			}
			evs := h.events(d.ID)
			if tc.weights != nil {
				if got := weights(t, evs, PhaseShifting, PhaseBaking); !slices.Equal(got, tc.weights) {
					t.Errorf("weights = %v, want %v (each step once)", got, tc.weights)
				}
			}
			// The step that was running at the crash ended at its persisted
			// deadline, not a full step after the restart.
			if !d.Deadline.IsZero() && (Phase(d.Phase) == PhaseShifting || Phase(d.Phase) == PhaseBaking) {
				found := false
				for _, ev := range evs {
					if ev.Time.Equal(d.Deadline) && ev.Time.After(before) {
						found = true
					}
				}
				if !found {
					t.Errorf("no transition at the persisted deadline %v; events at %v", d.Deadline, eventTimes(evs))
				}
			}
			if Phase(d.Phase) == PhaseWaitingReady {
				if got := lastEvent(t, evs, PhaseVerifying).Time; got.After(d.Deadline) {
					t.Errorf("verified at %v, after the ready deadline %v", got, d.Deadline)
				}
			}
			h.assertRoute(slot.Green, 0, 100)
			if h.rt.runs(slot.Green) != "v2" || h.rt.runs(slot.Blue) != "v1" {
				t.Errorf("runtime runs blue=%q green=%q", h.rt.runs(slot.Blue), h.rt.runs(slot.Green))
			}
		})
	}
}

// TestRestartKeepsTheReadyDeadline: a release that never gets healthy fails
// at the deadline persisted before the crash, not a full timeout after it.
func TestRestartKeepsTheReadyDeadline(t *testing.T) {
	h := newHarness(t, nil)
	h.seed(false)
	h.setSick(slot.Green, true)
	d := h.driveTo(h.deploy("v2", "").ID, "waiting", inPhase(PhaseWaitingReady))
	h.clock.Add(testReady / 2)
	h.restart()
	end := h.finish(d.ID)
	if Phase(end.Phase) != PhaseFailed {
		t.Fatalf("ended %s", end.Phase)
	}
	if got := lastEvent(t, h.events(d.ID), PhaseFailed).Time; !got.Equal(d.Deadline) {
		t.Errorf("failed at %v, want the persisted deadline %v", got, d.Deadline)
	}
}

// TestRestartAfterSuccessKeepsTheScaleDown: the warm slot is re-adopted and
// still stops at its stored time.
func TestRestartAfterSuccessKeepsTheScaleDown(t *testing.T) {
	h := newHarness(t, nil)
	h.seed(true)
	stopAt := h.slot(slot.Blue).StopAt
	h.clock.Add(10 * time.Minute)
	h.restart()
	h.idle()
	h.assertRoute(slot.Green, 0, 100)
	if len(h.router.backendsOf(slot.Blue)) != 2 {
		t.Errorf("warm blue not re-adopted: %v", h.router.backendsOf(slot.Blue))
	}
	h.drive("blue scaled down", func() bool { return h.slot(slot.Blue).State == slot.Stopped })
	if !h.clock.Now().Equal(stopAt) {
		t.Errorf("scaled down at %v, want %v", h.clock.Now(), stopAt)
	}
}

func eventTimes(evs []store.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Phase+"@"+ev.Time.Format("15:04:05"))
	}
	return out
}

// Restore puts the instances the runtime reports already running into
// rotation at once (they served before the restart), then re-adopts them.
func TestRestorePutsRunningInstancesInRotation(t *testing.T) {
	h := newHarness(t, nil)
	h.seed(true)
	h.restart()
	for _, sl := range slot.All() {
		if got, want := h.router.rotated(sl), h.rt.Running(sl); !slices.Equal(got, want) || len(got) != 2 {
			t.Errorf("%s in rotation at once = %v, want what runs: %v", sl, got, want)
		}
	}
	h.idle()
	h.assertRoute(slot.Green, 0, 100)
}

// With SeedVersion (the static driver) a slot that never ran a release is
// recorded running what the operator runs there, once: routing by hand
// works before the first deployment, and a deployment shifts from it.
func TestRestoreSeedsTheOperatorsSlots(t *testing.T) {
	h := newHarnessWith(t, nil, func(h *harness) { h.seedVersion = "static" })
	for _, sl := range slot.All() {
		if s := h.slot(sl); s.State != slot.Running || s.Version != "static" {
			t.Fatalf("%s = %+v, want running static", sl, s)
		}
	}
	if _, err := h.c.SetRoute(h.ctx(), slot.Blue, nil); err != nil {
		t.Fatalf("route by hand before any deployment: %v", err)
	}
	d := h.finish(h.deploy("v2", "").ID)
	if Phase(d.Phase) != PhaseSucceeded || d.FromVersion != "static" || d.Slot != slot.Green {
		t.Fatalf("v2 = %s into %s from %q, want succeeded into green from static", d.Phase, d.Slot, d.FromVersion)
	}
	h.restart()
	if s := h.slot(slot.Green); s.Version != "v2" {
		t.Errorf("green after a restart = %+v, want v2 (seeded once)", s)
	}
}

// Run refuses to start before Restore.
func TestRunNeedsRestore(t *testing.T) {
	h := newHarness(t, nil)
	c, err := New(Options{App: "other", Store: h.store, Runtime: h.rt, Router: newFakeRouter()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Run(h.ctx()); err == nil {
		t.Fatal("Run before Restore returned nil, want an error")
	}
}
