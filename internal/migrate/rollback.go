package migrate

import (
	"context"
	"database/sql"
	"fmt"
)

// OpRollback undoes the expand of an ops.yaml migration.
const OpRollback Op = "rollback"

// rollbackSteps are the statements that undo m's expand on dialect d:
// the sync triggers and functions, then what expand added (indexes,
// columns, tables), last first. Every PostgreSQL statement has IF EXISTS,
// so a rollback interrupted half-way runs again from the start.
func rollbackSteps(d Dialect, m *Migration) ([]Step, error) {
	if m.Ops == nil {
		return nil, fmt.Errorf("rollback %s: it is SQL files, and the engine generates a rollback only for %s; write a new migration that undoes it", m.Name, FileOps)
	}
	dc := m.declared[d]
	if dc == nil || dc.generation == nil {
		return nil, fmt.Errorf("rollback %s: %w", m.Name, dc.err)
	}
	if dc.noUndo > 0 {
		return nil, fmt.Errorf("rollback %s: %s/%s:%d: raw_sql has no rollback statements, so the engine cannot undo it; add `rollback: …` to it (the SQL that undoes its sql)", m.Name, m.Name, FileOps, dc.noUndo)
	}
	var steps []Step
	for _, s := range dc.rollback {
		stmts, err := splitStatements(s)
		if err != nil {
			return nil, fmt.Errorf("rollback %s: %w", m.Name, err)
		}
		for _, st := range stmts {
			steps = append(steps, Step{SQL: st, NoTx: needsNoTx(d, st), Note: "undo of expand"})
		}
	}
	return steps, nil
}

// RollbackOptions are the gate and override of a rollback.
type RollbackOptions struct {
	// Gate refuses the rollback of one migration (see RollbackGate); nil
	// means no gate.
	Gate func(ctx context.Context, migration string) error
	// ForceReason, when not empty, overrides a refusing gate; it is
	// reported as an EventForced.
	ForceReason string
}

// RollbackGateError is a running release that needs the shape a rollback
// would take away.
type RollbackGateError struct {
	Migration string
	Blocking  Running
}

func (e *RollbackGateError) Error() string {
	b := e.Blocking
	return fmt.Sprintf("rollback %s refused: slot %s runs release %s (%s), which requires %s or a later migration in releases.%s.requires, so it uses the new shape the rollback drops; roll back to a release that does not require it and stop %s first (or --force --reason \"…\")",
		e.Migration, b.Slot, b.Version, b.State, e.Migration, b.Version, b.Version)
}

// CanRollback refuses the rollback of migration while a running release
// requires it (or a later migration): that release reads and writes the
// new shape.
func CanRollback(migration string, running []Running, releases map[string][]string) error {
	for _, r := range running {
		if r.Version != "" && needsNewShape(migration, releases[r.Version]) {
			return &RollbackGateError{Migration: migration, Blocking: r}
		}
	}
	return nil
}

// RollbackGate is CanRollback over the releases src says run.
func RollbackGate(src Releases, releases map[string][]string) func(ctx context.Context, migration string) error {
	return func(ctx context.Context, migration string) error {
		running, err := src.Running(ctx)
		if err != nil {
			return fmt.Errorf("rollback %s refused: cannot tell which releases are live or warm: %w", migration, err)
		}
		return CanRollback(migration, running, releases)
	}
}

// Rollback undoes the expand of the ops.yaml migration name while it is
// expanding or expanded (not once a contract began: that is what restore
// is for): it drops the new releases' views of its tables, the sync
// triggers and what expand added — so whatever only the new shape holds
// (a new column with no old counterpart, a created table) is lost — and
// removes its history row. The migration is pending again: expand runs it
// from the start, backfill included. A later migration that is not
// pending must be rolled back first. The gate is asked first: a release
// that requires name must not run.
func (e *Engine) Rollback(ctx context.Context, name string, o RollbackOptions) (err error) {
	hist, unlock, err := e.prepare(ctx)
	if err != nil {
		return err
	}
	defer e.release(unlock, &err)
	if name == "" {
		return fmt.Errorf("rollback: name the migration to roll back")
	}
	m := e.set.Get(name)
	if m == nil {
		return fmt.Errorf("rollback %s: no such migration in %s", name, e.dirName())
	}
	switch ph := phaseOf(hist, name); ph {
	case PhaseExpanding, PhaseExpanded:
	default:
		return fmt.Errorf("rollback %s: it is %s: only an expanding or expanded migration can be rolled back (after a contract, restore it)", name, ph)
	}
	for _, later := range e.set {
		if later.Name > name && phaseOf(hist, later.Name) != PhasePending {
			return fmt.Errorf("rollback %s: %s is %s and may depend on it: roll that back first", name, later.Name, phaseOf(hist, later.Name))
		}
	}
	steps, err := rollbackSteps(e.db.dialect, m)
	if err != nil {
		return err
	}
	if o.Gate != nil {
		if gerr := o.Gate(ctx, name); gerr != nil {
			if o.ForceReason == "" {
				e.emit(ctx, Event{Migration: name, Op: OpRollback, Kind: EventRefused, Message: gerr.Error()})
				return gerr
			}
			e.emit(ctx, Event{Migration: name, Op: OpRollback, Kind: EventForced, Message: fmt.Sprintf("%v; forced: %s", gerr, o.ForceReason)})
			e.say("%s: gate overridden (%v): %s", name, gerr, o.ForceReason)
		}
	}
	rec := hist[name]
	began := e.opts.Now()
	e.emit(ctx, Event{Migration: name, Op: OpRollback, Kind: EventPhase, Phase: rec.Phase, Message: fmt.Sprintf("rollback: %d statements", len(steps))})
	if err := e.dropViewsOf(ctx, m, true); err != nil {
		return err
	}
	for i, s := range steps {
		what := fmt.Sprintf("step %d/%d", i+1, len(steps))
		if err := e.withLockRetry(ctx, name, OpRollback, what, func(ctx context.Context) error { return e.execStep(ctx, s) }); err != nil {
			return fmt.Errorf("rollback %s: %s (%q): %w; the history still says %s, run it again to finish", name, what, firstLine(s.SQL), err, rec.Phase)
		}
		e.emit(ctx, Event{Migration: name, Op: OpRollback, Kind: EventStep, Step: i + 1, Message: firstLine(s.SQL)})
	}
	if err := deleteRecord(ctx, e.db, rec); err != nil {
		return fmt.Errorf("rollback %s: %w", name, err)
	}
	e.opts.Metrics.set(name, PhasePending)
	msg := fmt.Sprintf("rolled back (%d steps) in %s; pending again", len(steps), e.opts.Now().Sub(began).Round(1e6))
	e.emit(ctx, Event{Migration: name, Op: OpRollback, Kind: EventPhase, Phase: PhasePending, Message: msg,
		Data: map[string]any{"steps": len(steps)}})
	e.say("%s: %s", name, msg)
	return e.syncSchemas(ctx)
}

// execStep runs one statement without a history row: alone when it
// cannot be in a transaction, otherwise in its own transaction with the
// lock timeout.
func (e *Engine) execStep(ctx context.Context, s Step) error {
	if s.NoTx {
		return e.execAlone(ctx, s)
	}
	return e.lockedTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.SQL)
		return err
	}, nil)
}

// deleteRecord removes r's history row if it still has r.Version.
func deleteRecord(ctx context.Context, db *DB, r *Record) error {
	res, err := db.sql.ExecContext(ctx, db.rebind(`DELETE FROM `+HistoryTable+` WHERE name=? AND version=?`), r.Name, r.Version)
	if err != nil {
		return fmt.Errorf("delete %s row %s: %w", HistoryTable, r.Name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("delete %s row %s: %w", HistoryTable, r.Name, err)
	}
	if n != 1 {
		return fmt.Errorf("delete %s row %s at version %d: %w", HistoryTable, r.Name, r.Version, ErrConflict)
	}
	return nil
}
