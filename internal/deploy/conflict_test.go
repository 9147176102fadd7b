package deploy

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// racingStore lets another writer act just before the controller's first
// transition into shifting, so that the controller's conditional write
// meets a real store.ErrConflict.
type racingStore struct {
	store.Store
	once  sync.Once
	other func(ctx context.Context)
}

func (s *racingStore) Transition(ctx context.Context, d *store.Deployment, ev *store.Event) error {
	if Phase(d.Phase) == PhaseShifting {
		s.once.Do(func() { s.other(ctx) })
	}
	return s.Store.Transition(ctx, d, ev)
}

// TestConflictIsReadAgainAndDecidedAgain: an abort recorded while the loop
// is about to start shifting wins; the loop's stale write is refused, it
// reads again at once (no retry delay) and aborts, and no traffic moves.
func TestConflictIsReadAgainAndDecidedAgain(t *testing.T) {
	h := newHarness(t, nil)
	h.seed(false)
	var raced bool
	h.wrap = func(s store.Store) store.Store {
		return &racingStore{Store: s, other: func(ctx context.Context) {
			d, err := s.ActiveDeployment(ctx, "shop")
			if err != nil {
				t.Errorf("racing writer: %v", err)
				return
			}
			next, _, err := h.c.record(d, request{Kind: requestAbort, Reason: "aborted by a person during verifying"})
			if err == nil {
				err = s.Transition(ctx, next, nil)
			}
			if err != nil {
				t.Errorf("racing writer: %v", err)
			}
			raced = true
		}}
	}
	h.restart()
	h.idle()
	swaps := h.router.swapCount()

	d := h.finish(h.deploy("v2", "canary 5% for 10m").ID)
	if !raced {
		t.Fatal("the racing writer never ran")
	}
	evs := h.events(d.ID)
	if Phase(d.Phase) != PhaseAborted || slices.Contains(phases(evs), PhaseShifting) {
		t.Fatalf("ended %s with events %v, want aborted before any shifting", d.Phase, phases(evs))
	}
	if a, v := lastEvent(t, evs, PhaseAborted).Time, lastEvent(t, evs, PhaseVerifying).Time; !a.Equal(v) {
		t.Errorf("aborted at %v, %v after verifying: the conflict was retried after a delay", a, a.Sub(v))
	}
	if got := h.router.swapCount(); got != swaps {
		t.Errorf("route switched %d times; no traffic should have moved", got-swaps)
	}
	h.assertRoute(slot.Blue, 100, 0)
}
