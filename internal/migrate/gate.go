package migrate

import (
	"context"
	"fmt"
	"slices"
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
	Slot    string
	Version string
	State   SlotState
}

// Releases tells which releases are live or warm right now. The controller
// (from its store) and the CLI (from a running serve) implement it.
type Releases interface {
	Running(ctx context.Context) ([]Running, error)
}

// GateError is a refused contract.
type GateError struct {
	Migration string
	Blocking  Running
}

func (e *GateError) Error() string {
	return fmt.Sprintf("contract %s refused: slot %s runs release %s (%s), which does not require %s or any later migration in releases.%s.requires, so it may still use the old shape; stop or scale it down first (or --force --reason \"…\")",
		e.Migration, e.Blocking.Slot, e.Blocking.Version, e.Blocking.State, e.Migration, e.Blocking.Version)
}

// CanContract decides whether migration may be contracted while running
// releases are live or warm. releases maps each version to its
// releases.<version>.requires.
//
// The rule: requires is cumulative. A release that lists migration M, or
// any migration whose name sorts after M (migrations run in name order,
// NNNN first, so a release written against a later one was written after
// M's expand), needs the new shape and tolerates M's contract. Every other
// release — one that lists only earlier migrations, lists none, or is not
// in the config at all — was written before M and may read or write the
// old shape: while it is live or warm, the contract is refused with a
// GateError naming its slot and version. Slots that run nothing are
// ignored. The bake-time rule (not before bake_time has passed since the
// promotion of the release that requires M) is the controller's: it knows
// the promotion time.
func CanContract(migration string, running []Running, releases map[string][]string) error {
	for _, r := range running {
		if r.Version == "" {
			continue
		}
		if !needsNewShape(migration, releases[r.Version]) {
			return &GateError{Migration: migration, Blocking: r}
		}
	}
	return nil
}

// needsNewShape reports whether a release with these requires was written
// against migration's expanded shape.
func needsNewShape(migration string, requires []string) bool {
	return slices.ContainsFunc(requires, func(req string) bool { return req >= migration })
}

// ReleaseGate is a ContractOptions.Gate from a Releases source and the
// config's releases map.
func ReleaseGate(src Releases, releases map[string][]string) func(ctx context.Context, migration string) error {
	return func(ctx context.Context, migration string) error {
		running, err := src.Running(ctx)
		if err != nil {
			return fmt.Errorf("contract %s refused: cannot tell which releases are live or warm: %w", migration, err)
		}
		return CanContract(migration, running, releases)
	}
}
