package router

import "fmt"

// Slot names one of the two pools of instances. At any time one slot is
// live and the other idle.
type Slot string

// The two slots.
const (
	Blue  Slot = "blue"
	Green Slot = "green"
)

const numSlots = 2

// allSlots lists both slots in index order (see Slot.index).
func allSlots() [numSlots]Slot { return [numSlots]Slot{Blue, Green} }

// ParseSlot returns the Slot named s.
func ParseSlot(s string) (Slot, error) {
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
func (s Slot) Valid() bool { return s.index() >= 0 }

// index maps a slot to 0 (blue) or 1 (green), -1 when invalid; the router
// keeps per-slot state in arrays indexed by it.
func (s Slot) index() int {
	switch s {
	case Blue:
		return 0
	case Green:
		return 1
	default:
		return -1
	}
}
