package migrate

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// SlotState is how a slot's release can still be reached.
type SlotState string

// The states in which a release can still use the schema.
const (
	SlotLive SlotState = "live" // gets production traffic
	SlotWarm SlotState = "warm" // running, kept for instant rollback
)

// Running is a release that is live or warm in a slot.
type Running struct {
	Slot    slot.Slot
	Version string
	State   SlotState
	// StopAt is when a warm release is scheduled to stop (scale-down);
	// zero when no stop is scheduled.
	StopAt time.Time
	// PromotedAt is when a live release got all production traffic; zero
	// when unknown (the bake rule then does not apply).
	PromotedAt time.Time
}

// Releases tells which releases are live or warm right now. The controller
// (from its store) and the CLI (from a running serve) implement it.
type Releases interface {
	Running(ctx context.Context) ([]Running, error)
}

// GateError is a refused contract: a release that may need the old shape
// is live or warm (Baking false), or the release that needs the new shape
// has not been live for bake_time yet (Baking true).
type GateError struct {
	Migration string
	Blocking  Running
	Baking    bool
	// Left is how long until the refusal lifts by itself: the warm
	// release's scale-down, or the rest of bake_time. Zero when it will
	// not lift by itself (a live release, a warm one with no scale-down
	// scheduled).
	Left time.Duration
	// At is when it lifts (zero with Left).
	At time.Time
}

func (e *GateError) Error() string {
	b := e.Blocking
	if e.Baking {
		return fmt.Sprintf("contract %s refused: slot %s runs release %s, promoted %s, and bake_time has not passed yet: %s left (until %s); run it again then (or --force --reason \"…\")",
			e.Migration, b.Slot, b.Version, b.PromotedAt.UTC().Format(time.RFC3339), roundLeft(e.Left), e.At.UTC().Format(time.RFC3339))
	}
	left := "time left: none, it is live; deploy a release that requires it and let the old one scale down"
	switch {
	case b.State == SlotWarm && e.Left > 0:
		left = fmt.Sprintf("time left: %s, until its scale-down at %s", roundLeft(e.Left), e.At.UTC().Format(time.RFC3339))
	case b.State == SlotWarm:
		left = "time left: unknown, no scale-down is scheduled yet"
	}
	return fmt.Sprintf("contract %s refused: slot %s runs release %s (%s), which does not require %s or any later migration in releases.%s.requires, so it may still use the old shape; %s; stop or scale it down first (or --force --reason \"…\")",
		e.Migration, b.Slot, b.Version, b.State, e.Migration, b.Version, left)
}

// roundLeft rounds a wait for people: whole seconds, at least 1s.
func roundLeft(d time.Duration) time.Duration {
	return max(d.Round(time.Second), time.Second)
}

// Gate is the contract gate's rules: what each release requires, and how
// long a release that needs the new shape must have been live first.
type Gate struct {
	// Releases maps each version to its releases.<version>.requires.
	Releases map[string][]string
	// BakeTime: a contract waits until the live release that needs the
	// new shape has had all traffic this long (0: no wait).
	BakeTime time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Check decides whether migration may be contracted while running
// releases are live or warm.
//
// The rule: requires is cumulative. A release that lists migration M, or
// any migration whose name sorts after M (migrations run in name order,
// NNNN first, so a release written against a later one was written after
// M's expand), needs the new shape and tolerates M's contract. Every other
// release — one that lists only earlier migrations, lists none, or is not
// in the config at all — was written before M and may read or write the
// old shape: while it is live or warm, the contract is refused with a
// GateError naming its slot, version and the time until its scale-down.
// Slots that run nothing are ignored. Then the bake rule: a live release
// that needs the new shape must have had all traffic for BakeTime (from
// PromotedAt), so a rollback to the old release stays possible until the
// new one has proven itself.
func (g Gate) Check(migration string, running []Running) error {
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	t := now()
	for _, r := range running {
		if r.Version == "" || needsNewShape(migration, g.Releases[r.Version]) {
			continue
		}
		ge := &GateError{Migration: migration, Blocking: r}
		if r.State == SlotWarm && r.StopAt.After(t) {
			ge.Left, ge.At = r.StopAt.Sub(t), r.StopAt
		}
		return ge
	}
	for _, r := range running {
		if r.Version == "" || r.State != SlotLive || r.PromotedAt.IsZero() || g.BakeTime <= 0 {
			continue
		}
		if until := r.PromotedAt.Add(g.BakeTime); t.Before(until) {
			return &GateError{Migration: migration, Blocking: r, Baking: true, Left: until.Sub(t), At: until}
		}
	}
	return nil
}

// CanContract is Gate{Releases: releases}.Check: the release rule without
// the bake rule.
func CanContract(migration string, running []Running, releases map[string][]string) error {
	return Gate{Releases: releases}.Check(migration, running)
}

// needsNewShape reports whether a release with these requires was written
// against migration's expanded shape.
func needsNewShape(migration string, requires []string) bool {
	return slices.ContainsFunc(requires, func(req string) bool { return req >= migration })
}

// ReleaseGate is a ContractOptions.Gate from a Releases source and the
// config's releases map (no bake rule; see Gate.Func).
func ReleaseGate(src Releases, releases map[string][]string) func(ctx context.Context, migration string) error {
	return Gate{Releases: releases}.Func(src)
}

// Func is a ContractOptions.Gate that asks src which releases run.
func (g Gate) Func(src Releases) func(ctx context.Context, migration string) error {
	return func(ctx context.Context, migration string) error {
		running, err := src.Running(ctx)
		if err != nil {
			return fmt.Errorf("contract %s refused: cannot tell which releases are live or warm: %w", migration, err)
		}
		return g.Check(migration, running)
	}
}
