package slot

import "testing"

func TestSlot(t *testing.T) {
	for _, tc := range []struct {
		s     Slot
		other Slot
		index int
	}{{Blue, Green, 0}, {Green, Blue, 1}, {"red", "red", -1}} {
		if got := tc.s.Other(); got != tc.other {
			t.Errorf("%q.Other() = %q, want %q", tc.s, got, tc.other)
		}
		if got := tc.s.Index(); got != tc.index {
			t.Errorf("%q.Index() = %d, want %d", tc.s, got, tc.index)
		}
		if got := tc.s.Valid(); got != (tc.index >= 0) {
			t.Errorf("%q.Valid() = %v", tc.s, got)
		}
	}
	for i, s := range All() {
		if s.Index() != i {
			t.Errorf("All()[%d] = %s has index %d", i, s, s.Index())
		}
	}
	if s, err := Parse("green"); err != nil || s != Green {
		t.Errorf("Parse(green) = %q, %v", s, err)
	}
	if _, err := Parse("Green"); err == nil {
		t.Error("Parse(Green): want an error")
	}
}

func TestState(t *testing.T) {
	for _, s := range []State{Starting, Running, Stopped} {
		if !s.Valid() {
			t.Errorf("%q not valid", s)
		}
	}
	if State("stopping").Valid() {
		t.Error("stopping is not a state")
	}
}
