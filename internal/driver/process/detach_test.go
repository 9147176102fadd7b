package process

import (
	"errors"
	"slices"
	"testing"
)

func TestDetachHandsRunningInstancesToANewDriver(t *testing.T) {
	opts := testOptions(t, nil)
	a, err := newDriver(opts, fastTimings())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Start(t.Context(), "blue", "v1"); err != nil {
		t.Fatalf("start: %v", err)
	}
	before := pids(a.Instances("blue"))

	// While a holds the state directory, nobody else can supervise it.
	if _, err := newDriver(opts, fastTimings()); err == nil {
		t.Fatal("a second driver started on a locked state directory")
	}
	if err := a.Detach(); err != nil {
		t.Fatalf("detach: %v", err)
	}
	if _, err := a.Start(t.Context(), "green", "v2"); !errors.Is(err, ErrClosed) {
		t.Errorf("start after detach = %v, want ErrClosed", err)
	}
	b := newTestDriver(t, opts)
	if got := pids(b.Instances("blue")); !slices.Equal(got, before) {
		t.Fatalf("the new driver adopted pids %v, want the same %v", got, before)
	}
	for i, st := range b.Instances("blue") {
		if rep := hello(t, st.Addr); rep.PID != before[i] {
			t.Errorf("%s answered from pid %d, want %d", st.Addr, rep.PID, before[i])
		}
	}
}

func TestReattachTakesInstancesBackAfterAFailedHandoff(t *testing.T) {
	opts := testOptions(t, nil)
	a := newTestDriver(t, opts)
	if _, err := a.Start(t.Context(), "blue", "v1"); err != nil {
		t.Fatalf("start: %v", err)
	}
	before := pids(a.Instances("blue"))
	if err := a.Reattach(); err == nil {
		t.Error("reattach of a driver that was not detached succeeded")
	}
	if err := a.Detach(); err != nil {
		t.Fatalf("detach: %v", err)
	}
	if err := a.Reattach(); err != nil {
		t.Fatalf("reattach: %v", err)
	}
	if got := pids(a.Instances("blue")); !slices.Equal(got, before) {
		t.Fatalf("after reattach pids %v, want the same %v", got, before)
	}
	// It supervises again: Start works, and the state directory is held.
	if _, err := a.Start(t.Context(), "green", "v2"); err != nil {
		t.Fatalf("start after reattach: %v", err)
	}
	if _, err := newDriver(opts, fastTimings()); err == nil {
		t.Fatal("a second driver started while the reattached one holds the state directory")
	}
}
