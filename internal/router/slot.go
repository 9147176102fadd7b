package router

import "github.com/bluegreen-dev/bluegreen/internal/slot"

// Slot is package slot's type: the router keeps its per-slot state in
// arrays indexed by Slot.Index.
type Slot = slot.Slot

// The two slots, as package slot names them.
const (
	Blue  = slot.Blue
	Green = slot.Green
)

const numSlots = slot.Count

// allSlots lists both slots in index order (see Slot.Index).
func allSlots() [numSlots]Slot { return slot.All() }
