package schemagate

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/api"
	"github.com/bluegreen-dev/bluegreen/internal/migrate"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// TestReleases: from serve's facts, a live slot (route or weight) is a live
// release with its promotion time from the history, a running slot without
// traffic a warm one with its scale-down, and a stopped or empty slot runs
// nothing.
func TestReleases(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	f := &fakeFacts{
		deployments: []store.Deployment{ // newest first
			{ID: 2, Slot: "green", Version: "v2", Phase: string(api.PhaseSucceeded), EndedAt: t0.Add(5 * time.Minute)},
			{ID: 1, Slot: "blue", Version: "v1", Phase: string(api.PhaseSucceeded), EndedAt: t0},
		},
		events: map[int64][]store.Event{2: {{Phase: string(api.PhaseBaking), Time: t0.Add(time.Minute)}}},
	}
	for _, tc := range []struct {
		name  string
		slots []api.SlotStatus
		want  []migrate.Running
	}{
		{"live and warm",
			[]api.SlotStatus{
				{Slot: "blue", Version: "v1", State: slot.Running, StopAt: t0.Add(time.Hour)},
				{Slot: "green", Version: "v2", State: slot.Running, Live: true, Weight: 100},
			},
			[]migrate.Running{
				{Slot: "blue", Version: "v1", State: migrate.SlotWarm, StopAt: t0.Add(time.Hour)},
				{Slot: "green", Version: "v2", State: migrate.SlotLive, PromotedAt: t0.Add(time.Minute)},
			}},
		{"canary weight is live; starting counts",
			[]api.SlotStatus{
				{Slot: "blue", Version: "v1", State: slot.Running, Live: true, Weight: 90},
				{Slot: "green", Version: "v3", State: slot.Starting, Weight: 10},
			},
			[]migrate.Running{
				{Slot: "blue", Version: "v1", State: migrate.SlotLive, PromotedAt: t0},
				{Slot: "green", Version: "v3", State: migrate.SlotLive}, // never promoted
			}},
		{"stopped and empty slots run nothing",
			[]api.SlotStatus{
				{Slot: "blue", Version: "v1", State: slot.Stopped},
				{Slot: "green", State: slot.Stopped},
			},
			nil},
	} {
		f.slots = tc.slots
		got, err := Releases(f).Running(ctx)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
	if f.limit != historyLimit {
		t.Errorf("history read with limit %d, want %d", f.limit, historyLimit)
	}

	boom := errors.New("boom")
	f.slots = []api.SlotStatus{{Slot: "green", Version: "v2", State: slot.Running, Live: true}}
	for _, tc := range []struct {
		failing                       string
		slots, deployments, eventsErr error
	}{{"status", boom, nil, nil}, {"deployments", nil, boom, nil}, {"events", nil, nil, boom}} {
		f.slotsErr, f.deploymentsErr, f.eventsErr = tc.slots, tc.deployments, tc.eventsErr
		if _, err := Releases(f).Running(ctx); !errors.Is(err, boom) {
			t.Errorf("failing %s: err = %v, want %v", tc.failing, err, boom)
		}
	}
}

// fakeFacts is serve's facts from fixed values.
type fakeFacts struct {
	slots       []api.SlotStatus
	deployments []store.Deployment
	events      map[int64][]store.Event
	limit       int

	slotsErr, deploymentsErr, eventsErr error
}

var _ Facts = (*fakeFacts)(nil)

func (f *fakeFacts) Slots(context.Context) ([]api.SlotStatus, error) {
	return f.slots, f.slotsErr
}

func (f *fakeFacts) Deployments(_ context.Context, limit int) ([]store.Deployment, error) {
	f.limit = limit
	return f.deployments, f.deploymentsErr
}

func (f *fakeFacts) Events(_ context.Context, id int64) ([]store.Event, error) {
	return f.events[id], f.eventsErr
}
