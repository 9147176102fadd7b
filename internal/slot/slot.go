// Package slot names the two slots, blue and green, and the states a slot's
// release goes through. Every package that speaks of slots uses these types:
// the store persists them as text, the router indexes its per-slot state by
// them, the controller and the admin API name them.
package slot

import "fmt"

// Slot names one of the two pools of instances. At any time one slot is
// live and the other idle.
type Slot string

// The two slots.
const (
	Blue  Slot = "blue"
	Green Slot = "green"
)

// Count is the number of slots.
const Count = 2

// All lists both slots in index order (see Index).
func All() [Count]Slot { return [Count]Slot{Blue, Green} }

// Parse returns the Slot named s.
func Parse(s string) (Slot, error) {
	switch Slot(s) {
	case Blue, Green:
		return Slot(s), nil
	default:
		return "", fmt.Errorf("parse slot %q: want blue or green", s)
	}
}

// Other returns the other slot. Other of an invalid slot is the invalid
// slot itself.
func (s Slot) Other() Slot {
	switch s {
	case Blue:
		return Green
	case Green:
		return Blue
	default:
		return s
	}
}

// Valid reports whether s is blue or green.
func (s Slot) Valid() bool { return s.Index() >= 0 }

// Index maps a slot to 0 (blue) or 1 (green), -1 when invalid, for state
// kept per slot in arrays.
func (s Slot) Index() int {
	switch s {
	case Blue:
		return 0
	case Green:
		return 1
	default:
		return -1
	}
}

// String returns the slot's name.
func (s Slot) String() string { return string(s) }
