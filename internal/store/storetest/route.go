package storetest

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

func testRouteRoundTrip(t *testing.T, open Opener) {
	s := open(t)
	ctx := t.Context()

	if _, err := s.LoadRoute(ctx, "shop"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("load route before any save: err = %v, want ErrNotFound", err)
	}

	before := time.Now().Add(-time.Millisecond)
	want := store.Route{Live: "blue", Weights: map[slot.Slot]int{"blue": 90, "green": 10}}
	if err := s.SaveRoute(ctx, "shop", want); err != nil {
		t.Fatalf("save route: %v", err)
	}
	after := time.Now().Add(time.Millisecond)
	got, err := s.LoadRoute(ctx, "shop")
	if err != nil {
		t.Fatalf("load route: %v", err)
	}
	if got.Live != want.Live || !reflect.DeepEqual(got.Weights, want.Weights) {
		t.Errorf("route = %+v, want %+v", got, want)
	}
	if got.UpdatedAt.Before(before) || got.UpdatedAt.After(after) || got.UpdatedAt.Location() != time.UTC {
		t.Errorf("route UpdatedAt = %v, want a UTC time between %v and %v", got.UpdatedAt, before, after)
	}

	// Last writer wins; other apps are untouched.
	second := store.Route{Live: "green", Weights: map[slot.Slot]int{"green": 100}}
	if err := s.SaveRoute(ctx, "shop", second); err != nil {
		t.Fatalf("save route again: %v", err)
	}
	other := store.Route{Live: "blue", Weights: map[slot.Slot]int{"blue": 100}}
	if err := s.SaveRoute(ctx, "other", other); err != nil {
		t.Fatalf("save route of other app: %v", err)
	}
	got, err = s.LoadRoute(ctx, "shop")
	if err != nil {
		t.Fatalf("load route: %v", err)
	}
	if got.Live != "green" || !reflect.DeepEqual(got.Weights, second.Weights) {
		t.Errorf("route after overwrite = %+v, want %+v", got, second)
	}
	got, err = s.LoadRoute(ctx, "other")
	if err != nil {
		t.Fatalf("load route of other app: %v", err)
	}
	if got.Live != "blue" || !reflect.DeepEqual(got.Weights, other.Weights) {
		t.Errorf("route of other app = %+v, want %+v", got, other)
	}
}

func testSlotUpsert(t *testing.T, open Opener) {
	s := open(t)
	ctx := t.Context()

	slots, err := s.LoadSlots(ctx, "shop")
	if err != nil {
		t.Fatalf("load slots before any save: %v", err)
	}
	if len(slots) != 0 {
		t.Fatalf("slots before any save = %+v, want none", slots)
	}

	stopAt := time.Date(2030, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
	green := store.SlotState{
		Slot: "green", Version: "v1", State: "running",
		Instances: json.RawMessage(`[{"pid":42,"port":31001},{"pid":43,"port":31002}]`),
		StopAt:    stopAt,
	}
	blue := store.SlotState{Slot: "blue", Version: "", State: "stopped"}
	for _, sl := range []store.SlotState{green, blue} {
		if err := s.SaveSlot(ctx, "shop", sl); err != nil {
			t.Fatalf("save slot %s: %v", sl.Slot, err)
		}
	}
	if err := s.SaveSlot(ctx, "other", store.SlotState{Slot: "blue", Version: "x", State: "running"}); err != nil {
		t.Fatalf("save slot of other app: %v", err)
	}

	// Upsert: the second save of blue replaces the first.
	blue = store.SlotState{Slot: "blue", Version: "v2", State: "starting", Instances: json.RawMessage(`[]`),
		StoppingSince: stopAt.Add(time.Minute)}
	if err := s.SaveSlot(ctx, "shop", blue); err != nil {
		t.Fatalf("save slot blue again: %v", err)
	}

	slots, err = s.LoadSlots(ctx, "shop")
	if err != nil {
		t.Fatalf("load slots: %v", err)
	}
	if len(slots) != 2 {
		t.Fatalf("slots = %+v, want blue and green", slots)
	}
	byName := map[slot.Slot]store.SlotState{}
	for _, sl := range slots {
		byName[sl.Slot] = sl
	}
	for _, want := range []store.SlotState{blue, green} {
		got, ok := byName[want.Slot]
		if !ok {
			t.Errorf("slot %s missing from %+v", want.Slot, slots)
			continue
		}
		if got.Version != want.Version || got.State != want.State {
			t.Errorf("slot %s = %+v, want %+v", want.Slot, got, want)
		}
		if !jsonEqual(t, got.Instances, want.Instances) {
			t.Errorf("slot %s Instances = %s, want %s", want.Slot, got.Instances, want.Instances)
		}
		checkTime(t, "slot "+string(want.Slot)+" StopAt", want.StopAt, got.StopAt)
		checkTime(t, "slot "+string(want.Slot)+" StoppingSince", want.StoppingSince, got.StoppingSince)
		if got.UpdatedAt.IsZero() || got.UpdatedAt.Location() != time.UTC {
			t.Errorf("slot %s UpdatedAt = %v, want a UTC time set by the store", want.Slot, got.UpdatedAt)
		}
	}

	slots, err = s.LoadSlots(ctx, "other")
	if err != nil {
		t.Fatalf("load slots of other app: %v", err)
	}
	if len(slots) != 1 || slots[0].Version != "x" {
		t.Errorf("slots of other app = %+v, want only blue running x", slots)
	}
}

// testRouteRevision: every save gives the next revision, per app, and it
// survives a reopen; routers apply routes in this order.
func testRouteRevision(t *testing.T, open Opener) {
	s := open(t)
	ctx := t.Context()
	for i := 1; i <= 3; i++ {
		r := store.Route{Live: "blue", Weights: map[slot.Slot]int{"blue": 100 - 10*i, "green": 10 * i}}
		if err := s.SaveRoute(ctx, "shop", r); err != nil {
			t.Fatalf("save route %d: %v", i, err)
		}
		got, err := s.LoadRoute(ctx, "shop")
		if err != nil {
			t.Fatalf("load route %d: %v", i, err)
		}
		if got.Rev != int64(i) {
			t.Errorf("route rev after save %d = %d, want %d", i, got.Rev, i)
		}
	}
	if err := s.SaveRoute(ctx, "other", store.Route{Live: "green", Weights: map[slot.Slot]int{"green": 100}}); err != nil {
		t.Fatalf("save route of other: %v", err)
	}
	if got, err := s.LoadRoute(ctx, "other"); err != nil || got.Rev != 1 {
		t.Errorf("route of other app: rev %d, err %v; want rev 1 (revisions are per app)", got.Rev, err)
	}
	closeStore(t, s)
	s = open(t)
	defer closeStore(t, s)
	if got, err := s.LoadRoute(ctx, "shop"); err != nil || got.Rev != 3 {
		t.Errorf("route after reopen: rev %d, err %v; want 3", got.Rev, err)
	}
}
