package schemagate

import (
	"errors"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/api"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

func TestPromotedAt(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	ds := []store.Deployment{ // newest first
		{ID: 4, Slot: "blue", Version: "v3", Phase: string(api.PhaseRolledBack)},
		{ID: 3, Slot: "green", Version: "v2", Phase: string(api.PhaseSucceeded), EndedAt: t0.Add(3 * time.Minute)},
		{ID: 2, Slot: "blue", Version: "v1", Phase: string(api.PhaseSucceeded), EndedAt: t0.Add(2 * time.Minute)},
	}
	events := map[int64][]store.Event{
		3: {{Phase: string(api.PhaseShifting), Time: t0}, {Phase: string(api.PhaseBaking), Time: t0.Add(time.Minute)}, {Phase: string(api.PhaseBaking), Time: t0.Add(90 * time.Second)}},
		2: {{Phase: string(api.PhaseShifting), Time: t0}}, // a warm rollback: no baking
	}
	read := func(id int64) ([]store.Event, error) { return events[id], nil }
	for _, tc := range []struct {
		slot    slot.Slot
		version string
		want    time.Time
	}{
		{"green", "v2", t0.Add(time.Minute)},    // first baking event
		{"blue", "v1", t0.Add(2 * time.Minute)}, // no baking: the end
		{"blue", "v3", time.Time{}},             // rolled back: never promoted
		{"green", "v9", time.Time{}},            // not in the history
	} {
		got, err := promotedAt(ds, tc.slot, tc.version, read)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("promotedAt(%s, %s) = %v, %v; want %v", tc.slot, tc.version, got, err, tc.want)
		}
	}
	boom := errors.New("boom")
	if _, err := promotedAt(ds, "green", "v2", func(int64) ([]store.Event, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("error from events = %v, want %v", err, boom)
	}
}
