package router

import (
	"errors"
	"fmt"
	"maps"
)

// Table is the route table: which slot is live and what share of production
// traffic (in percent) each slot gets. The router swaps it atomically.
type Table struct {
	Live    Slot         `json:"live"`
	Weights map[Slot]int `json:"weights"`
}

// LiveTable returns the table that sends all production traffic to s.
func LiveTable(s Slot) Table {
	return Table{Live: s, Weights: map[Slot]int{s: 100, s.Other(): 0}}
}

// Validate checks that Live is a slot, every weight names a slot and lies in
// 0..100, and the weights sum to 100.
func (t Table) Validate() error {
	var errs []error
	if !t.Live.Valid() {
		errs = append(errs, fmt.Errorf("live slot %q: want blue or green", t.Live))
	}
	sum := 0
	for s, w := range t.Weights {
		if !s.Valid() {
			errs = append(errs, fmt.Errorf("weight for slot %q: want blue or green", s))
			continue
		}
		if w < 0 || w > 100 {
			errs = append(errs, fmt.Errorf("weight for slot %s: %d%% is outside 0..100", s, w))
			continue
		}
		sum += w
	}
	if len(errs) == 0 && sum != 100 {
		errs = append(errs, fmt.Errorf("weights sum to %d%%, want 100%%", sum))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid route table: %w", err)
	}
	return nil
}

// Idle returns the slot that is not live: the target of the preview route.
func (t Table) Idle() Slot { return t.Live.Other() }

// Weight returns the share of production traffic for s (0 when absent).
func (t Table) Weight(s Slot) int { return t.Weights[s] }

// clone returns a copy whose Weights map is not shared, with both slots
// present.
func (t Table) clone() Table {
	w := make(map[Slot]int, numSlots)
	for _, s := range allSlots() {
		w[s] = 0
	}
	maps.Copy(w, t.Weights)
	return Table{Live: t.Live, Weights: w}
}

// compiledTable is the form of a Table read on the request path.
type compiledTable struct {
	table   Table
	weights [numSlots]int
	live    int // slot index
	idle    int // slot index
	// only is the index of the slot with 100% of the weight, or -1 during a
	// weighted split.
	only int
}

func compile(t Table) *compiledTable {
	t = t.clone()
	c := &compiledTable{table: t, live: t.Live.Index(), idle: t.Idle().Index(), only: -1}
	for i, s := range allSlots() {
		c.weights[i] = t.Weights[s]
		if c.weights[i] == 100 {
			c.only = i
		}
	}
	return c
}
