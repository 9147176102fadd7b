package deploy

import (
	"slices"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/store"
)

func TestSubscribersGetEveryPersistedEventAndNeverBlock(t *testing.T) {
	h := newHarness(t, nil)
	events, cancel := h.c.Subscribe(64)
	defer cancel()
	_, cancelSlow := h.c.Subscribe(1) // never read
	defer cancelSlow()

	h.seed(false)

	want := []Phase{PhasePending, PhaseProvisioning, PhaseWaitingReady, PhaseVerifying, PhaseSucceeded}
	var got []store.Event
	timeout := time.After(waitLimit)
	for len(got) < len(want) {
		select {
		case ev := <-events:
			got = append(got, ev)
		case <-timeout:
			t.Fatalf("got %v, want %v", phases(got), want)
		}
	}
	if !slices.Equal(phases(got), want) {
		t.Errorf("streamed %v, want %v", phases(got), want)
	}
	stored := h.events(1)
	for i, ev := range got {
		if ev.ID == 0 || ev.ID != stored[i].ID || ev.DeploymentID != 1 || ev.Reason != stored[i].Reason || !ev.Time.Equal(stored[i].Time) {
			t.Errorf("streamed event %d = %+v, stored %+v", i, ev, stored[i])
		}
	}
	if h.c.DroppedEvents() == 0 {
		t.Error("the slow subscriber missed nothing, yet its buffer holds one event")
	}
	cancel()
	cancel()           // twice is fine
	for range events { // drains what is buffered, then ends: cancel closed it
	}
}
