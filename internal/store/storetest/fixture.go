package storetest

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// newDeployment returns an active deployment of app that has not been
// stored yet. Times are whole milliseconds so any store at least that
// precise returns them exactly.
func newDeployment(app string) *store.Deployment {
	return &store.Deployment{
		App:         app,
		Kind:        "deploy",
		Version:     "v2",
		Slot:        "green",
		FromVersion: "v1",
		Strategy:    "linear 10% every 3m",
		Phase:       "pending",
		Active:      true,
		Deadline:    time.Date(2031, 5, 6, 7, 8, 9, 123_000_000, time.UTC),
		Reason:      "requested by test",
		Data:        json.RawMessage(`{"requested_by":"test"}`),
	}
}

// firstEvent is the event CreateDeployment writes in most tests.
func firstEvent() store.Event {
	return store.Event{Phase: "pending", Reason: "created", Data: json.RawMessage(`{"n":1}`)}
}

// create stores d with firstEvent and fails the test on error.
func create(t *testing.T, s store.Store, d *store.Deployment) {
	t.Helper()
	if err := s.CreateDeployment(t.Context(), d, ptr(firstEvent())); err != nil {
		t.Fatalf("create deployment for %s: %v", d.App, err)
	}
}

// end makes d terminal (Active false) through Transition.
func end(t *testing.T, s store.Store, d *store.Deployment) {
	t.Helper()
	d.Phase = "succeeded"
	d.Active = false
	d.EndedAt = time.Date(2031, 5, 6, 8, 0, 0, 0, time.UTC)
	if err := s.Transition(t.Context(), d, &store.Event{Phase: "succeeded", Reason: "done"}); err != nil {
		t.Fatalf("end deployment %d: %v", d.ID, err)
	}
}

// get loads deployment id and fails the test on error.
func get(t *testing.T, s store.Store, id int64) store.Deployment {
	t.Helper()
	d, err := s.GetDeployment(t.Context(), id)
	if err != nil {
		t.Fatalf("get deployment %d: %v", id, err)
	}
	return d
}

// events loads a deployment's events and fails the test on error.
func events(t *testing.T, s store.Store, id int64) []store.Event {
	t.Helper()
	evs, err := s.Events(t.Context(), id)
	if err != nil {
		t.Fatalf("events of deployment %d: %v", id, err)
	}
	return evs
}

// checkDeployment fails the test unless got equals want field by field:
// JSON compared by meaning, times by instant and required to be in UTC.
func checkDeployment(t *testing.T, want, got store.Deployment) {
	t.Helper()
	if !jsonEqual(t, want.Data, got.Data) {
		t.Errorf("deployment %d: Data = %s, want %s", want.ID, got.Data, want.Data)
	}
	for _, tm := range []struct {
		name      string
		want, got time.Time
	}{
		{"Deadline", want.Deadline, got.Deadline},
		{"CreatedAt", want.CreatedAt, got.CreatedAt},
		{"UpdatedAt", want.UpdatedAt, got.UpdatedAt},
		{"EndedAt", want.EndedAt, got.EndedAt},
	} {
		checkTime(t, tm.name, tm.want, tm.got)
	}
	want.Data, got.Data = nil, nil
	want.Deadline, got.Deadline = time.Time{}, time.Time{}
	want.CreatedAt, got.CreatedAt = time.Time{}, time.Time{}
	want.UpdatedAt, got.UpdatedAt = time.Time{}, time.Time{}
	want.EndedAt, got.EndedAt = time.Time{}, time.Time{}
	if !reflect.DeepEqual(want, got) {
		t.Errorf("deployment differs:\n got  %+v\n want %+v", got, want)
	}
}

// checkTime fails the test unless got is the same instant as want and, when
// not zero, in UTC.
func checkTime(t *testing.T, name string, want, got time.Time) {
	t.Helper()
	if want.IsZero() != got.IsZero() || !want.Equal(got) {
		t.Errorf("%s = %v, want %v", name, got, want)
	}
	if !got.IsZero() && got.Location() != time.UTC {
		t.Errorf("%s = %v, want location UTC, got %v", name, got, got.Location())
	}
}

// jsonEqual reports whether a and b are the same JSON value (key order and
// spacing aside); both empty counts as equal.
func jsonEqual(t *testing.T, a, b json.RawMessage) bool {
	t.Helper()
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Errorf("unmarshal %s: %v", a, err)
		return false
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Errorf("unmarshal %s: %v", b, err)
		return false
	}
	return reflect.DeepEqual(va, vb)
}

// ptr returns a pointer to a copy of ev, for the *store.Event parameters.
func ptr(ev store.Event) *store.Event { return &ev }
