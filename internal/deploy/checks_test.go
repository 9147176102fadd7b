package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// slowChecks passes every version at once but slow, whose checks run until
// their context is cancelled (a five-minute browser suite, as far as the
// controller can tell) or until pass is called.
type slowChecks struct {
	slow    string
	started chan struct{} // a check of slow began
	ended   chan error    // it returned, with its context's error
	mu      sync.Mutex
	calls   int
	release chan struct{}
}

func newSlowChecks(slow string) *slowChecks {
	return &slowChecks{slow: slow, started: make(chan struct{}, 4), ended: make(chan error, 4), release: make(chan struct{})}
}

func (v *slowChecks) Verify(ctx context.Context, _ slot.Slot, version string) (bool, json.RawMessage, error) {
	v.mu.Lock()
	v.calls++
	release := v.release
	v.mu.Unlock()
	if version != v.slow {
		return true, json.RawMessage(`{"passed":true}`), nil
	}
	v.started <- struct{}{}
	select {
	case <-ctx.Done():
		v.ended <- ctx.Err()
		return false, nil, ctx.Err()
	case <-release:
		v.ended <- nil
		return true, json.RawMessage(`{"passed":true,"slow":true}`), nil
	}
}

// pass makes the running check of slow, and later ones, pass.
func (v *slowChecks) pass() {
	v.mu.Lock()
	defer v.mu.Unlock()
	close(v.release)
}

func (v *slowChecks) callCount() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.calls
}

// recv waits (on the real clock, up to waitLimit) for a value on ch.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

// An abort, or a rollback (which is an abort during a deployment), issued
// while the checks of verifying run takes effect within one reconcile
// pass: the checks run beside the loop and are cancelled.
func TestAbortWhileChecksRun(t *testing.T) {
	for _, how := range []string{"abort", "rollback"} {
		t.Run(how, func(t *testing.T) {
			checks := newSlowChecks("v2")
			h := newHarnessWith(t, nil, func(h *harness) { h.checks = checks })
			h.seed(false)
			d := h.deploy("v2", "")
			recv(t, checks.started, "the checks of v2")
			issued := h.clock.Now()
			var err error
			if how == "abort" {
				err = h.c.Abort(h.ctx())
			} else {
				_, err = h.c.Rollback(h.ctx())
			}
			if err != nil {
				t.Fatalf("%s while the checks run: %v", how, err)
			}
			if err := recv(t, checks.ended, "the checks to end"); !errors.Is(err, context.Canceled) {
				t.Errorf("the checks ended with %v, want cancelled", err)
			}
			h.idle()
			d = h.get(d.ID)
			if Phase(d.Phase) != PhaseAborted {
				t.Fatalf("v2 = %s (%s), want aborted", d.Phase, d.Reason)
			}
			evs := h.events(d.ID)
			if want := []Phase{PhasePending, PhaseProvisioning, PhaseWaitingReady, PhaseVerifying, PhaseAborted}; !slices.Equal(phases(evs), want) {
				t.Errorf("phases %v, want %v", phases(evs), want)
			}
			if got := lastEvent(t, evs, PhaseAborted).Time; !got.Equal(issued) {
				t.Errorf("aborted at %v, want at once (%v)", got, issued)
			}
			if x, err := readDetails(d); err != nil || x.Verified != nil {
				t.Errorf("stored checks outcome %+v (%v), want none: they were cancelled", x.Verified, err)
			}
			h.assertRoute(slot.Blue, 100, 0)
			h.drive("green stopped", func() bool { return h.slot(slot.Green).State == slot.Stopped })
		})
	}
}

// The outcome of the checks is a stored fact: the loop acts on it on its
// next pass. A restart while they run starts them again.
func TestRestartWhileChecksRun(t *testing.T) {
	checks := newSlowChecks("v2")
	h := newHarnessWith(t, nil, func(h *harness) { h.checks = checks })
	h.seed(false)
	d := h.deploy("v2", "")
	recv(t, checks.started, "the checks of v2")
	h.restart()
	if err := recv(t, checks.ended, "the first checks to end"); !errors.Is(err, context.Canceled) {
		t.Errorf("the checks ended with %v at the restart, want cancelled", err)
	}
	recv(t, checks.started, "the checks of v2 again, after the restart")
	checks.pass()
	d = h.finish(d.ID)
	if Phase(d.Phase) != PhaseSucceeded {
		t.Fatalf("v2 = %s (%s), want succeeded", d.Phase, d.Reason)
	}
	if n := checks.callCount(); n != 3 { // v1, then v2 twice
		t.Errorf("checks ran %d times, want 3", n)
	}
	x, err := readDetails(d)
	if err != nil {
		t.Fatal(err)
	}
	if x.Verified == nil || !x.Verified.Passed || string(x.Report) != `{"passed":true,"slow":true}` {
		t.Errorf("stored outcome %+v, report %s; want the passing report", x.Verified, x.Report)
	}
}
