package storetest

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

func testReopen(t *testing.T, open Opener) {
	ctx := t.Context()
	s := open(t)

	route := store.Route{Live: "green", Weights: map[slot.Slot]int{"blue": 30, "green": 70}}
	if err := s.SaveRoute(ctx, "shop", route); err != nil {
		t.Fatalf("save route: %v", err)
	}
	slot := store.SlotState{Slot: "green", Version: "v2", State: "running", Instances: json.RawMessage(`[{"pid":7}]`)}
	if err := s.SaveSlot(ctx, "shop", slot); err != nil {
		t.Fatalf("save slot: %v", err)
	}
	d := newDeployment("shop")
	create(t, s, d)
	d.Phase = "shifting"
	if err := s.Transition(ctx, d, &store.Event{Phase: "shifting", Reason: "step 1"}); err != nil {
		t.Fatalf("transition: %v", err)
	}

	// A second store on the same data while the first is open sees the
	// writes and can write itself.
	s2 := open(t)
	checkDeployment(t, *d, get(t, s2, d.ID))
	d.Phase = "baking"
	if err := s2.Transition(ctx, d, &store.Event{Phase: "baking", Reason: "step 2"}); err != nil {
		t.Fatalf("transition through the second store: %v", err)
	}
	closeStore(t, s2)
	closeStore(t, s)
	closeStore(t, s) // Close is idempotent

	s = open(t)
	got, err := s.LoadRoute(ctx, "shop")
	if err != nil {
		t.Fatalf("load route after reopen: %v", err)
	}
	if got.Live != route.Live || !reflect.DeepEqual(got.Weights, route.Weights) {
		t.Errorf("route after reopen = %+v, want %+v", got, route)
	}
	slots, err := s.LoadSlots(ctx, "shop")
	if err != nil {
		t.Fatalf("load slots after reopen: %v", err)
	}
	if len(slots) != 1 || slots[0].Version != "v2" || !jsonEqual(t, slots[0].Instances, slot.Instances) {
		t.Errorf("slots after reopen = %+v, want %+v", slots, slot)
	}
	checkDeployment(t, *d, get(t, s, d.ID))
	evs := events(t, s, d.ID)
	if len(evs) != 3 || evs[2].Phase != "baking" {
		t.Errorf("events after reopen = %+v, want pending, shifting, baking", evs)
	}
	active, err := s.ActiveDeployment(ctx, "shop")
	if err != nil || active.ID != d.ID {
		t.Errorf("active deployment after reopen = %d, %v; want %d", active.ID, err, d.ID)
	}
}

func testSchemaVersion(t *testing.T, open Opener) {
	ctx := t.Context()
	s := open(t)
	v, ok := s.(Versioned)
	if !ok {
		t.Fatalf("%T does not report its schema version (storetest.Versioned)", s)
	}
	first, err := v.SchemaVersion(ctx)
	if err != nil {
		t.Fatalf("schema version: %v", err)
	}
	if first < 1 {
		t.Fatalf("schema version = %d, want at least 1", first)
	}

	// Opening again (while open, and after closing) migrates nothing and
	// keeps working.
	s2 := open(t)
	again, err := s2.(Versioned).SchemaVersion(ctx)
	if err != nil {
		t.Fatalf("schema version through a second store: %v", err)
	}
	if again != first {
		t.Errorf("schema version after a second open = %d, want %d", again, first)
	}
	closeStore(t, s2)
	closeStore(t, s)
	s3 := open(t)
	again, err = s3.(Versioned).SchemaVersion(ctx)
	if err != nil {
		t.Fatalf("schema version after reopen: %v", err)
	}
	if again != first {
		t.Errorf("schema version after reopen = %d, want %d", again, first)
	}
	d := newDeployment("shop")
	create(t, s3, d)
}
