package deploy

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// TestAfterPromotionChecks: the after_promotion checks run once, when the
// new slot has all traffic; a pass lets the deployment succeed, a failure
// rolls it back to the old slot with the report stored.
func TestAfterPromotionChecks(t *testing.T) {
	post := &fakeVerifier{passed: true, report: json.RawMessage(`{"passed":true}`)}
	rec := &weightRecorder{next: post}
	h := newHarnessWith(t, nil, func(h *harness) { rec.h, h.post = h, rec })
	h.seed(false) // the first release goes live without baking: no post checks

	d := h.finish(h.deploy("v2", "linear 50% every 1m").ID)
	if Phase(d.Phase) != PhaseSucceeded {
		t.Fatalf("v2 with passing post checks: %s (%s)", d.Phase, d.Reason)
	}
	x, err := readDetails(d)
	if err != nil {
		t.Fatal(err)
	}
	post.mu.Lock()
	calls := post.calls
	post.passed, post.report = false, json.RawMessage(`{"passed":false,"results":[{"name":"tools","reason":"tool search missing"}]}`)
	post.mu.Unlock()
	if calls != 1 || !x.PostChecked || string(x.PostReport) != `{"passed":true}` {
		t.Fatalf("post checks ran %d times (latched %v, report %s), want once", calls, x.PostChecked, x.PostReport)
	}
	live := d.Slot
	// They ran with the new slot at 100%, never during a split.
	if ws := rec.seen(); len(ws) != 1 || ws[0] != 100 {
		t.Fatalf("post checks ran at weights %v of the new slot, want once at 100", ws)
	}

	d = h.finish(h.deploy("v3", "all-at-once").ID)
	if Phase(d.Phase) != PhaseRolledBack {
		t.Fatalf("v3 with failing post checks: %s (%s), want rolled_back", d.Phase, d.Reason)
	}
	if ev := lastEvent(t, h.events(d.ID), PhaseRollingBack); !strings.Contains(ev.Reason, "after-promotion checks failed") {
		t.Errorf("rolling_back reason = %q, want the after-promotion failure", ev.Reason)
	}
	if x, err = readDetails(d); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(x.Failure), "tool search missing") {
		t.Errorf("stored failure = %s, want the check report", x.Failure)
	}
	h.idle()
	if live == slot.Green {
		h.assertRoute(slot.Green, 0, 100)
	} else {
		h.assertRoute(slot.Blue, 100, 0)
	}
	if ps := phases(h.events(d.ID)); !containsPhase(ps, PhaseBaking) || !containsPhase(ps, PhaseRollingBack) {
		t.Errorf("v3 phases %v, want baking then rolling_back", ps)
	}
}

// weightRecorder notes the weight of the slot under check each time the
// post-promotion checks run.
type weightRecorder struct {
	h       *harness
	next    Verifier
	mu      sync.Mutex
	weights []int
}

func (r *weightRecorder) Verify(ctx context.Context, sl slot.Slot, version string) (bool, json.RawMessage, error) {
	_, w := r.h.router.Route()
	r.mu.Lock()
	r.weights = append(r.weights, w[sl])
	r.mu.Unlock()
	return r.next.Verify(ctx, sl, version)
}

func (r *weightRecorder) seen() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.weights...)
}

func containsPhase(ps []Phase, p Phase) bool {
	for _, x := range ps {
		if x == p {
			return true
		}
	}
	return false
}
