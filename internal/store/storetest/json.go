package storetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// nested is a JSON value with every kind of JSON in it.
const nested = `{"analysis":{"verdict":"inconclusive","why":"fewer than 50 requests",
 "rules":[{"metric":"error_rate","live":0.01,"new":null,"pass":false}]},
 "counts":[1,2,3],"ok":true,"text":"ünïcode \"quoted\" \\ back"}`

func testJSONRoundTrip(t *testing.T, open Opener) {
	s := open(t)
	ctx := t.Context()

	d := newDeployment("shop")
	d.Data = json.RawMessage(nested)
	ev := store.Event{Phase: "pending", Reason: "created", Data: json.RawMessage(nested)}
	if err := s.CreateDeployment(ctx, d, &ev); err != nil {
		t.Fatalf("create deployment: %v", err)
	}
	got := get(t, s, d.ID)
	if !jsonEqual(t, got.Data, d.Data) {
		t.Errorf("deployment Data = %s, want %s", got.Data, d.Data)
	}
	if !json.Valid(got.Data) {
		t.Errorf("deployment Data is not valid JSON: %s", got.Data)
	}
	evs := events(t, s, d.ID)
	if len(evs) != 1 || !jsonEqual(t, evs[0].Data, ev.Data) {
		t.Errorf("event Data = %+v, want %s", evs, ev.Data)
	}

	// Data can be cleared.
	d.Data = nil
	if err := s.Transition(ctx, d, nil); err != nil {
		t.Fatalf("transition: %v", err)
	}
	if got := get(t, s, d.ID); len(got.Data) != 0 {
		t.Errorf("cleared Data came back as %s", got.Data)
	}

	sl := store.SlotState{Slot: "blue", State: "running", Instances: json.RawMessage(nested)}
	if err := s.SaveSlot(ctx, "shop", sl); err != nil {
		t.Fatalf("save slot: %v", err)
	}
	slots, err := s.LoadSlots(ctx, "shop")
	if err != nil {
		t.Fatalf("load slots: %v", err)
	}
	if len(slots) != 1 || !jsonEqual(t, slots[0].Instances, sl.Instances) {
		t.Errorf("slots = %+v, want Instances %s", slots, sl.Instances)
	}
}

func testInvalidJSONRefused(t *testing.T, open Opener) {
	s := open(t)
	ctx := t.Context()
	bad := json.RawMessage(`{"unterminated":`)

	d := newDeployment("shop")
	d.Data = bad
	if err := s.CreateDeployment(ctx, d, ptr(firstEvent())); err == nil {
		t.Errorf("create with invalid Data succeeded")
	}
	d = newDeployment("shop")
	if err := s.CreateDeployment(ctx, d, &store.Event{Phase: "pending", Data: bad}); err == nil {
		t.Errorf("create with invalid event Data succeeded")
	}
	if list, err := s.ListDeployments(ctx, "shop", 0); err != nil || len(list) != 0 {
		t.Errorf("refused creates left rows: %v, %v", idsOf(list), err)
	}

	d = newDeployment("shop")
	create(t, s, d)
	stored := get(t, s, d.ID)
	bumped := *d
	bumped.Data = bad
	err := s.Transition(ctx, &bumped, &store.Event{Phase: "x"})
	if err == nil || errors.Is(err, store.ErrConflict) {
		t.Errorf("transition with invalid Data: err = %v, want a validation error", err)
	}
	bumped = *d
	if err := s.Transition(ctx, &bumped, &store.Event{Phase: "x", Data: bad}); err == nil {
		t.Errorf("transition with invalid event Data succeeded")
	}
	checkDeployment(t, stored, get(t, s, d.ID))
	if evs := events(t, s, d.ID); len(evs) != 1 {
		t.Errorf("refused transitions wrote events: %+v", evs)
	}

	if err := s.SaveSlot(ctx, "shop", store.SlotState{Slot: "blue", Instances: bad}); err == nil {
		t.Errorf("save slot with invalid Instances succeeded")
	}
}

func testTimesUTC(t *testing.T, open Opener) {
	s := open(t)
	ctx := t.Context()
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)

	d := newDeployment("shop")
	// A millisecond-precise time in another zone comes back as the same
	// instant in UTC.
	d.Deadline = time.Date(2031, 1, 2, 3, 4, 5, 6_000_000, zone)
	create(t, s, d)
	got := get(t, s, d.ID)
	checkTime(t, "Deadline", d.Deadline, got.Deadline)
	if !got.EndedAt.IsZero() {
		t.Errorf("EndedAt = %v, want zero", got.EndedAt)
	}

	// Sub-millisecond digits may be cut or rounded, but the instant is kept
	// to the millisecond.
	fine := time.Date(2031, 1, 2, 3, 4, 5, 123_456_789, zone)
	d.Deadline = fine
	d.EndedAt = fine.Add(time.Hour)
	if err := s.Transition(ctx, d, &store.Event{Time: fine, Phase: "p"}); err != nil {
		t.Fatalf("transition: %v", err)
	}
	got = get(t, s, d.ID)
	for _, tm := range []struct {
		name      string
		want, got time.Time
	}{
		{"Deadline", fine, got.Deadline},
		{"EndedAt", fine.Add(time.Hour), got.EndedAt},
	} {
		if diff := tm.want.Sub(tm.got).Abs(); diff >= time.Millisecond || tm.got.Location() != time.UTC {
			t.Errorf("%s = %v, want %v in UTC to the millisecond", tm.name, tm.got, tm.want)
		}
	}
	evs := events(t, s, d.ID)
	if n := len(evs); n != 2 {
		t.Fatalf("events = %+v, want 2", evs)
	}
	if diff := fine.Sub(evs[1].Time).Abs(); diff >= time.Millisecond || evs[1].Time.Location() != time.UTC {
		t.Errorf("event Time = %v, want %v in UTC to the millisecond", evs[1].Time, fine)
	}

	// Zero times stay zero.
	d.Deadline = time.Time{}
	d.EndedAt = time.Time{}
	if err := s.Transition(ctx, d, nil); err != nil {
		t.Fatalf("transition: %v", err)
	}
	got = get(t, s, d.ID)
	if !got.Deadline.IsZero() || !got.EndedAt.IsZero() {
		t.Errorf("zero times came back as Deadline %v, EndedAt %v", got.Deadline, got.EndedAt)
	}
}
