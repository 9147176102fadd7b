package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/store"
)

func testCreateDeployment(t *testing.T, open Opener) {
	s := open(t)
	ctx := t.Context()

	d := newDeployment("shop")
	d.Rev = 99 // ignored: the store owns Rev, ID and the timestamps
	before := time.Now().Add(-time.Millisecond)
	first := firstEvent()
	if err := s.CreateDeployment(ctx, d, &first); err != nil {
		t.Fatalf("create deployment: %v", err)
	}
	after := time.Now().Add(time.Millisecond)
	if d.ID <= 0 {
		t.Errorf("ID = %d, want a positive ID set on return", d.ID)
	}
	if d.Rev != 1 {
		t.Errorf("Rev = %d, want 1", d.Rev)
	}
	if d.CreatedAt.Before(before) || d.CreatedAt.After(after) {
		t.Errorf("CreatedAt = %v, want between %v and %v", d.CreatedAt, before, after)
	}
	if !d.UpdatedAt.Equal(d.CreatedAt) {
		t.Errorf("UpdatedAt = %v, want CreatedAt %v", d.UpdatedAt, d.CreatedAt)
	}

	checkDeployment(t, *d, get(t, s, d.ID))

	active, err := s.ActiveDeployment(ctx, "shop")
	if err != nil {
		t.Fatalf("active deployment: %v", err)
	}
	checkDeployment(t, *d, active)

	evs := events(t, s, d.ID)
	if len(evs) != 1 {
		t.Fatalf("events = %+v, want the first event only", evs)
	}
	ev := evs[0]
	if ev.ID <= 0 || ev.DeploymentID != d.ID || ev.Phase != first.Phase || ev.Reason != first.Reason {
		t.Errorf("first event = %+v, want %+v for deployment %d", ev, first, d.ID)
	}
	if !jsonEqual(t, ev.Data, first.Data) {
		t.Errorf("first event Data = %s, want %s", ev.Data, first.Data)
	}
	if ev.Time.Before(before) || ev.Time.After(after) || ev.Time.Location() != time.UTC {
		t.Errorf("first event Time = %v, want the UTC write time (it was zero)", ev.Time)
	}

	// A second deployment gets its own ID; an explicit event time is kept.
	d2 := newDeployment("other")
	at := time.Date(2029, 12, 31, 23, 59, 59, 999_000_000, time.UTC)
	if err := s.CreateDeployment(ctx, d2, &store.Event{Time: at, Phase: "pending", Reason: "r"}); err != nil {
		t.Fatalf("create deployment of other app: %v", err)
	}
	if d2.ID == d.ID {
		t.Errorf("second deployment reused ID %d", d.ID)
	}
	evs = events(t, s, d2.ID)
	if len(evs) != 1 {
		t.Fatalf("events of second deployment = %+v, want one", evs)
	}
	checkTime(t, "explicit event Time", at, evs[0].Time)
	if len(evs[0].Data) != 0 {
		t.Errorf("event without Data came back with %s", evs[0].Data)
	}
}

func testSecondActiveRefused(t *testing.T, open Opener) {
	s := open(t)
	ctx := t.Context()

	// Some rows first so the active deployment's ID is not a lone "1".
	for range 3 {
		old := newDeployment("shop")
		create(t, s, old)
		end(t, s, old)
	}
	otherApp := newDeployment("other")
	create(t, s, otherApp)

	active := newDeployment("shop")
	create(t, s, active)
	before, err := s.ListDeployments(ctx, "shop", 0)
	if err != nil {
		t.Fatalf("list deployments: %v", err)
	}

	second := newDeployment("shop")
	err = s.CreateDeployment(ctx, second, ptr(firstEvent()))
	if !errors.Is(err, store.ErrActiveDeployment) {
		t.Fatalf("second active deployment: err = %v, want ErrActiveDeployment", err)
	}
	if errors.Is(err, store.ErrConflict) {
		t.Errorf("second active deployment: err = %v also matches ErrConflict", err)
	}
	if !regexp.MustCompile(fmt.Sprintf(`\b%d\b`, active.ID)).MatchString(err.Error()) {
		t.Errorf("error %q does not name the active deployment %d", err, active.ID)
	}
	if second.ID != 0 || second.Rev != 0 {
		t.Errorf("refused deployment was given ID %d, Rev %d", second.ID, second.Rev)
	}
	after, err := s.ListDeployments(ctx, "shop", 0)
	if err != nil {
		t.Fatalf("list deployments: %v", err)
	}
	if len(after) != len(before) {
		t.Errorf("refused create wrote a row: %d deployments, want %d", len(after), len(before))
	}

	// Each app has its own active deployment.
	got, err := s.ActiveDeployment(ctx, "other")
	if err != nil || got.ID != otherApp.ID {
		t.Errorf("active deployment of other = %d, %v; want %d", got.ID, err, otherApp.ID)
	}
	got, err = s.ActiveDeployment(ctx, "shop")
	if err != nil || got.ID != active.ID {
		t.Errorf("active deployment of shop = %d, %v; want %d", got.ID, err, active.ID)
	}
	if _, err := s.ActiveDeployment(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("active deployment of an unknown app: err = %v, want ErrNotFound", err)
	}

	// An inactive deployment (a record of the past) is not refused.
	past := newDeployment("shop")
	past.Active = false
	past.Phase = "failed"
	create(t, s, past)
}

func testTransition(t *testing.T, open Opener) {
	s := open(t)
	ctx := t.Context()
	d := newDeployment("shop")
	create(t, s, d)
	created := *d

	d.Phase = "shifting"
	d.Step = 2
	d.Weight = 20
	d.TrafficMoved = true
	d.Paused = ""
	d.Reason = "step 2"
	d.Deadline = time.Date(2031, 5, 6, 7, 11, 9, 0, time.UTC)
	d.Data = json.RawMessage(`{"analysis":{"verdict":"pass","error_rate":0.001}}`)
	ev := store.Event{Phase: "shifting", Reason: "step 2", Data: json.RawMessage(`{"weight":20}`)}
	if err := s.Transition(ctx, d, &ev); err != nil {
		t.Fatalf("transition: %v", err)
	}
	if d.Rev != created.Rev+1 {
		t.Errorf("Rev after transition = %d, want %d", d.Rev, created.Rev+1)
	}
	if d.UpdatedAt.Before(created.UpdatedAt) {
		t.Errorf("UpdatedAt went back: %v before %v", d.UpdatedAt, created.UpdatedAt)
	}
	if !d.CreatedAt.Equal(created.CreatedAt) {
		t.Errorf("CreatedAt changed: %v, want %v", d.CreatedAt, created.CreatedAt)
	}
	checkDeployment(t, *d, get(t, s, d.ID))

	evs := events(t, s, d.ID)
	if len(evs) != 2 {
		t.Fatalf("events = %+v, want 2", evs)
	}
	if evs[1].Phase != "shifting" || evs[1].Reason != "step 2" || !jsonEqual(t, evs[1].Data, ev.Data) {
		t.Errorf("appended event = %+v, want %+v", evs[1], ev)
	}
	// The caller learns where its event landed (SSE ids, webhook dedup).
	if ev.ID == 0 || ev.ID != evs[1].ID || ev.DeploymentID != d.ID || !ev.Time.Equal(evs[1].Time) {
		t.Errorf("Transition left the event as %+v; want ID %d, deployment %d, time %v", ev, evs[1].ID, d.ID, evs[1].Time)
	}
	if ev.ID <= evs[0].ID {
		t.Errorf("event ids not increasing: %d then %d", evs[0].ID, ev.ID)
	}

	// The zero Event appends nothing but the write still happens.
	d.Paused = "shifting"
	d.Phase = "paused"
	if err := s.Transition(ctx, d, nil); err != nil {
		t.Fatalf("transition without event: %v", err)
	}
	if d.Rev != created.Rev+2 {
		t.Errorf("Rev = %d, want %d", d.Rev, created.Rev+2)
	}
	checkDeployment(t, *d, get(t, s, d.ID))
	if evs := events(t, s, d.ID); len(evs) != 2 {
		t.Errorf("zero event appended something: %+v", evs)
	}
}

func testTransitionStaleRev(t *testing.T, open Opener) {
	s := open(t)
	ctx := t.Context()
	d := newDeployment("shop")
	create(t, s, d)

	stale := *d
	d.Phase = "provisioning"
	if err := s.Transition(ctx, d, &store.Event{Phase: "provisioning", Reason: "first"}); err != nil {
		t.Fatalf("transition: %v", err)
	}
	stored := get(t, s, d.ID)

	stale.Phase = "failed"
	stale.Active = false
	err := s.Transition(ctx, &stale, &store.Event{Phase: "failed", Reason: "stale"})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale transition: err = %v, want ErrConflict", err)
	}
	if stale.Rev != 1 {
		t.Errorf("stale transition changed the caller's Rev to %d", stale.Rev)
	}
	checkDeployment(t, stored, get(t, s, d.ID))
	evs := events(t, s, d.ID)
	if len(evs) != 2 {
		t.Errorf("stale transition wrote an event: %+v", evs)
	}
	if _, err := s.ActiveDeployment(ctx, "shop"); err != nil {
		t.Errorf("stale transition ended the deployment: %v", err)
	}
}

func testTransitionUnknownID(t *testing.T, open Opener) {
	s := open(t)
	d := newDeployment("shop")
	d.ID, d.Rev = 4242, 1
	err := s.Transition(t.Context(), d, &store.Event{Phase: "x"})
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("transition of unknown deployment: err = %v, want ErrNotFound", err)
	}
	if d.Rev != 1 {
		t.Errorf("failed transition changed Rev to %d", d.Rev)
	}
}

func testEndingFreesApp(t *testing.T, open Opener) {
	s := open(t)
	ctx := t.Context()
	first := newDeployment("shop")
	create(t, s, first)
	end(t, s, first)
	checkDeployment(t, *first, get(t, s, first.ID))

	if _, err := s.ActiveDeployment(ctx, "shop"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("active deployment after ending: err = %v, want ErrNotFound", err)
	}
	next := newDeployment("shop")
	if err := s.CreateDeployment(ctx, next, ptr(firstEvent())); err != nil {
		t.Fatalf("create after the previous ended: %v", err)
	}

	// Reactivating the ended one while next is active is refused by the
	// same invariant, and nothing is written.
	stored := get(t, s, first.ID)
	first.Active = true
	first.Phase = "shifting"
	err := s.Transition(ctx, first, &store.Event{Phase: "shifting", Reason: "revive"})
	if !errors.Is(err, store.ErrActiveDeployment) {
		t.Fatalf("reactivate while another is active: err = %v, want ErrActiveDeployment", err)
	}
	checkDeployment(t, stored, get(t, s, first.ID))
	if evs := events(t, s, first.ID); len(evs) != 2 {
		t.Errorf("refused transition wrote an event: %+v", evs)
	}
}

func testListDeployments(t *testing.T, open Opener) {
	s := open(t)
	ctx := t.Context()

	got, err := s.ListDeployments(ctx, "shop", 10)
	if err != nil {
		t.Fatalf("list deployments of an empty store: %v", err)
	}
	if len(got) != 0 {
		t.Fatalf("list of an empty store = %+v", got)
	}

	var ids []int64
	for i := range 5 {
		d := newDeployment("shop")
		d.Version = fmt.Sprintf("v%d", i)
		create(t, s, d)
		ids = append(ids, d.ID)
		if i < 4 {
			end(t, s, d)
		}
		create(t, s, newDeployment(fmt.Sprintf("other%d", i)))
	}

	got, err = s.ListDeployments(ctx, "shop", 3)
	if err != nil {
		t.Fatalf("list deployments: %v", err)
	}
	if want := []int64{ids[4], ids[3], ids[2]}; !sameIDs(got, want) {
		t.Errorf("list with limit 3 = %v, want %v", idsOf(got), want)
	}
	if got[0].Version != "v4" || !got[0].Active || got[1].Active {
		t.Errorf("list returned wrong rows: %+v", got)
	}

	got, err = s.ListDeployments(ctx, "shop", 0)
	if err != nil {
		t.Fatalf("list deployments without limit: %v", err)
	}
	if want := []int64{ids[4], ids[3], ids[2], ids[1], ids[0]}; !sameIDs(got, want) {
		t.Errorf("list without limit = %v, want %v", idsOf(got), want)
	}
	got, err = s.ListDeployments(ctx, "shop", 100)
	if err != nil {
		t.Fatalf("list deployments with a large limit: %v", err)
	}
	if len(got) != 5 {
		t.Errorf("list with limit 100 = %v, want 5 rows", idsOf(got))
	}
}

func testEventsOldestFirst(t *testing.T, open Opener) {
	s := open(t)
	ctx := t.Context()
	d := newDeployment("shop")
	create(t, s, d)
	phases := []string{"provisioning", "waiting_ready", "verifying", "shifting", "baking"}
	for _, p := range phases {
		d.Phase = p
		if err := s.Transition(ctx, d, &store.Event{Phase: p, Reason: "to " + p}); err != nil {
			t.Fatalf("transition to %s: %v", p, err)
		}
	}
	evs := events(t, s, d.ID)
	want := append([]string{"pending"}, phases...)
	if len(evs) != len(want) {
		t.Fatalf("events = %+v, want phases %v", evs, want)
	}
	for i, ev := range evs {
		if ev.Phase != want[i] {
			t.Errorf("event %d phase = %s, want %s", i, ev.Phase, want[i])
		}
		if i > 0 && (ev.ID <= evs[i-1].ID || ev.Time.Before(evs[i-1].Time)) {
			t.Errorf("event %d (%+v) is not after event %d (%+v)", i, ev, i-1, evs[i-1])
		}
		if ev.DeploymentID != d.ID {
			t.Errorf("event %d belongs to deployment %d, want %d", i, ev.DeploymentID, d.ID)
		}
	}
	if evs := events(t, s, d.ID+1000); len(evs) != 0 {
		t.Errorf("events of an unknown deployment = %+v, want none", evs)
	}
}

func testGetDeploymentNotFound(t *testing.T, open Opener) {
	s := open(t)
	if _, err := s.GetDeployment(t.Context(), 12345); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get unknown deployment: err = %v, want ErrNotFound", err)
	}
	d := newDeployment("shop")
	create(t, s, d)
	if _, err := s.GetDeployment(t.Context(), d.ID+1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get deployment %d: err = %v, want ErrNotFound", d.ID+1, err)
	}
}

func sameIDs(ds []store.Deployment, want []int64) bool {
	got := idsOf(ds)
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

func idsOf(ds []store.Deployment) []int64 {
	ids := make([]int64, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	return ids
}
