package migrate

import (
	"context"
	"errors"
	"fmt"
	"sort"
)

// ContractOptions are the gate and override of a contract.
type ContractOptions struct {
	// Gate refuses the contract of one migration (see CanContract); nil
	// means no gate. The CLI and the controller supply one that knows
	// which releases are live or warm.
	Gate func(ctx context.Context, migration string) error
	// ForceReason, when not empty, overrides a refusing gate; the reason
	// is recorded in the history row and reported as an EventForced.
	ForceReason string
}

// Plan returns what op would run for the migrations up to and including
// name ("" for all), without running anything.
func (e *Engine) Plan(ctx context.Context, op Op, name string) (*Plan, error) {
	if err := ensureHistory(ctx, e.db); err != nil {
		return nil, err
	}
	hist, err := readHistory(ctx, e.db, e.db.sql)
	if err != nil {
		return nil, err
	}
	if err := e.verify(hist); err != nil {
		return nil, err
	}
	return e.buildPlan(ctx, hist, op, name)
}

func phaseOf(hist map[string]*Record, name string) Phase {
	if r := hist[name]; r != nil {
		return r.Phase
	}
	return PhasePending
}

// buildPlan selects the migrations op applies to and lists their steps.
// expand: pending or interrupted ones, in order, up to name. contract:
// expanded, restored or interrupted ones up to name; a pending one in the
// range is an error. restore: exactly name, once contracted.
func (e *Engine) buildPlan(ctx context.Context, hist map[string]*Record, op Op, name string) (*Plan, error) {
	if name != "" && e.set.Get(name) == nil {
		return nil, fmt.Errorf("%s %s: no such migration in %s", op, name, e.dirName())
	}
	p := &Plan{Op: op, Dialect: e.db.dialect, LockTimeout: e.opts.LockTimeout}
	if op == OpRestore && name == "" {
		return nil, fmt.Errorf("restore: name the migration to restore")
	}
	if op == OpRollback {
		if name == "" {
			return nil, fmt.Errorf("rollback: name the migration to roll back")
		}
		m := e.set.Get(name)
		if m.unsupported != nil {
			return nil, fmt.Errorf("%s %s: %w", op, m.Name, m.unsupported)
		}
		steps, err := rollbackSteps(e.db.dialect, m)
		if err != nil {
			return nil, err
		}
		p.Items = append(p.Items, Item{Migration: name, Op: op, Phase: phaseOf(hist, name), Steps: steps})
		return p, nil
	}
	for _, m := range e.set {
		if op == OpRestore && m.Name != name {
			continue
		}
		rec := hist[m.Name]
		ph := phaseOf(hist, m.Name)
		it := Item{Migration: m.Name, Op: op, Phase: ph, Warnings: rawSQLWarnings(m)}
		if m.unsupported != nil {
			return nil, fmt.Errorf("%s %s: %w", op, m.Name, m.unsupported)
		}
		switch op {
		case OpExpand:
			switch ph {
			case PhasePending, PhaseExpanding:
				it.Steps = expandSteps(e.db.dialect, m)
				if f := m.File(FileValidate); f != nil && m.Ops != nil {
					it.Validate = f.Statements
				}
				if ph == PhaseExpanding {
					it.Done = rec.Step
				}
				if b := m.Backfill; b != nil {
					bp := &BackfillPlan{Table: b.Table, Key: b.Key, BatchSize: b.BatchSize, SQL: b.SQL}
					if bp.BatchSize == 0 {
						bp.BatchSize = e.opts.BatchSize
					}
					if rec != nil {
						bp.Next = rec.BackfillNext
					}
					it.Backfill = bp
				}
				p.Items = append(p.Items, it)
			case PhaseExpanded, PhaseContracting, PhaseContracted, PhaseRestoring, PhaseRestored:
			}
		case OpContract:
			switch ph {
			case PhasePending, PhaseExpanding:
				if name != "" {
					return nil, fmt.Errorf("contract %s: %s is %s: expand it first", name, m.Name, ph)
				}
			case PhaseExpanded, PhaseRestored, PhaseContracting:
				var archive []Archived
				if ph == PhaseContracting {
					archive = append(archive, rec.Archive...)
					it.Done = rec.Step
				} else {
					a, err := planArchive(ctx, e.db, m)
					if err != nil {
						return nil, err
					}
					archive = a
				}
				steps, warnings := contractSteps(e.db.dialect, e.db.path, m, archive)
				it.Steps, it.Warnings = steps, append(it.Warnings, warnings...)
				it.Archive = archive
				p.Items = append(p.Items, it)
			case PhaseContracted, PhaseRestoring:
			}
		case OpRestore:
			switch ph {
			case PhaseContracted, PhaseContracting, PhaseRestoring:
				archive := append([]Archived(nil), rec.Archive...)
				if ph == PhaseContracting {
					for i := range archive {
						if archive[i].DropStep > rec.Step {
							archive[i].DropStep = 0 // its drop never ran
						}
					}
				}
				if ph == PhaseRestoring {
					it.Done = rec.Step
				}
				it.Archive = archive
				it.Steps = restoreSteps(e.db.dialect, m, archive)
				p.Items = append(p.Items, it)
			case PhasePending, PhaseExpanding, PhaseExpanded, PhaseRestored:
				return nil, fmt.Errorf("restore %s: it is %s: only a contracted migration can be restored", name, ph)
			}
		}
		if m.Name == name {
			break
		}
	}
	return p, nil
}

func (e *Engine) dirName() string {
	if len(e.set) > 0 {
		return "the migrations directory"
	}
	return "the migrations directory (it has none)"
}

// Expand runs expand.sql, then backfill.sql, of every pending migration up
// to and including name ("" for all), resuming an interrupted one.
func (e *Engine) Expand(ctx context.Context, name string) (err error) {
	hist, unlock, err := e.prepare(ctx)
	if err != nil {
		return err
	}
	defer e.release(unlock, &err)
	p, err := e.buildPlan(ctx, hist, OpExpand, name)
	if err != nil {
		return err
	}
	if len(p.Items) == 0 {
		e.say("nothing to expand")
	}
	for i := range p.Items {
		it := &p.Items[i]
		m := e.set.Get(it.Migration)
		began := e.opts.Now()
		rec := hist[m.Name]
		if rec == nil {
			rec = &Record{Name: m.Name, Phase: PhaseExpanding, Checksums: map[FileKind]string{}, StartedAt: began, UpdatedAt: began, AppliedBy: e.opts.By}
			recordSums(rec, m, FileExpand, FileBackfill)
			if err := insertRecord(ctx, e.db, e.db.sql, rec); err != nil {
				return fmt.Errorf("expand %s: %w", m.Name, err)
			}
		} else {
			e.say("%s: resuming an interrupted expand after step %d", m.Name, rec.Step)
		}
		e.emit(ctx, Event{Migration: m.Name, Op: OpExpand, Kind: EventPhase, Phase: PhaseExpanding, Message: progressNote(it, m.Backfill != nil)})
		if err := e.runSteps(ctx, it, rec); err != nil {
			return err
		}
		if m.Backfill != nil {
			if err := e.runBackfill(ctx, m, rec); err != nil {
				return err
			}
		}
		done := e.opts.Now()
		rec.Phase, rec.ExpandedAt, rec.UpdatedAt, rec.AppliedBy, rec.Duration = PhaseExpanded, done, done, e.opts.By, done.Sub(began)
		if err := saveRecord(ctx, e.db, e.db.sql, rec); err != nil {
			return fmt.Errorf("expand %s: %w", m.Name, err)
		}
		msg := fmt.Sprintf("expanded (%d steps%s) in %s", len(it.Steps), backfillNote(rec), rec.Duration.Round(1e6))
		e.emit(ctx, Event{Migration: m.Name, Op: OpExpand, Kind: EventPhase, Phase: PhaseExpanded, Message: msg,
			Data: map[string]any{"steps": len(it.Steps), "backfill_rows": rec.BackfillRows, "duration_ms": rec.Duration.Milliseconds()}})
		e.say("%s: %s", m.Name, msg)
	}
	if len(p.Items) > 0 {
		return e.syncSchemas(ctx)
	}
	return nil
}

// progressNote says what an operation is about to run.
func progressNote(it *Item, backfill bool) string {
	s := fmt.Sprintf("%s: %d statements", it.Op, len(it.Steps))
	if it.Done > 0 {
		s += fmt.Sprintf(", resuming after %d", it.Done)
	}
	if backfill {
		s += ", then the backfill"
	}
	return s
}

func backfillNote(r *Record) string {
	if r.BackfillNext == nil {
		return ""
	}
	return fmt.Sprintf(", backfill %d rows", r.BackfillRows)
}

// Contract validates, archives and contracts every expanded migration up to
// and including name ("" for all). The gate is asked first for each.
func (e *Engine) Contract(ctx context.Context, name string, c ContractOptions) (err error) {
	hist, unlock, err := e.prepare(ctx)
	if err != nil {
		return err
	}
	defer e.release(unlock, &err)
	p, err := e.buildPlan(ctx, hist, OpContract, name)
	if err != nil {
		return err
	}
	if len(p.Items) == 0 {
		e.say("nothing to contract")
	}
	for i := range p.Items {
		it := &p.Items[i]
		m := e.set.Get(it.Migration)
		rec := hist[m.Name]
		forced := ""
		if c.Gate != nil {
			if gerr := c.Gate(ctx, m.Name); gerr != nil {
				if c.ForceReason == "" {
					e.emit(ctx, Event{Migration: m.Name, Op: OpContract, Kind: EventRefused, Message: gerr.Error()})
					return gerr
				}
				forced = c.ForceReason
				e.emit(ctx, Event{Migration: m.Name, Op: OpContract, Kind: EventForced, Message: fmt.Sprintf("%v; forced: %s", gerr, c.ForceReason)})
				e.say("%s: gate overridden (%v): %s", m.Name, gerr, c.ForceReason)
			}
		}
		if line := rawContractLine(m); line > 0 && c.ForceReason == "" {
			gerr := fmt.Errorf("contract %s refused: %s/%s:%d: raw_sql has contract statements the engine cannot check (it cannot tell whether a live or warm release survives them); read them in `bluegreen migrate plan contract %s`, then run contract with --force --reason \"…\"",
				m.Name, m.Name, FileOps, line, m.Name)
			e.emit(ctx, Event{Migration: m.Name, Op: OpContract, Kind: EventRefused, Message: gerr.Error()})
			return gerr
		} else if line > 0 && forced == "" {
			forced = c.ForceReason
			e.emit(ctx, Event{Migration: m.Name, Op: OpContract, Kind: EventForced, Message: "raw_sql contract statements run unchecked; forced: " + c.ForceReason})
		}
		began := e.opts.Now()
		if it.Phase != PhaseContracting {
			if err := e.validate(ctx, m); err != nil {
				return fmt.Errorf("contract %s: %w", m.Name, err)
			}
			rec.Phase, rec.Step, rec.Archive, rec.StartedAt, rec.UpdatedAt, rec.AppliedBy, rec.ForceReason =
				PhaseContracting, 0, it.Archive, began, began, e.opts.By, forced
			recordSums(rec, m, FileContract)
			if err := saveRecord(ctx, e.db, e.db.sql, rec); err != nil {
				return fmt.Errorf("contract %s: %w", m.Name, err)
			}
		}
		e.emit(ctx, Event{Migration: m.Name, Op: OpContract, Kind: EventPhase, Phase: PhaseContracting, Message: progressNote(it, false)})
		if err := e.dropOldViews(ctx, m); err != nil {
			return err
		}
		if err := e.runSteps(ctx, it, rec); err != nil {
			return err
		}
		done := e.opts.Now()
		rec.Phase, rec.ContractAt, rec.UpdatedAt, rec.Duration = PhaseContracted, done, done, done.Sub(began)
		if err := saveRecord(ctx, e.db, e.db.sql, rec); err != nil {
			return fmt.Errorf("contract %s: %w", m.Name, err)
		}
		msg := fmt.Sprintf("contracted (%d steps, %d columns archived) in %s", len(it.Steps), len(it.Archive), rec.Duration.Round(1e6))
		if forced != "" {
			msg += "; forced: " + forced
		}
		e.emit(ctx, Event{Migration: m.Name, Op: OpContract, Kind: EventPhase, Phase: PhaseContracted, Message: msg,
			Data: map[string]any{"steps": len(it.Steps), "archived_columns": len(it.Archive), "duration_ms": rec.Duration.Milliseconds()}})
		e.say("%s: %s", m.Name, msg)
	}
	if len(p.Items) > 0 {
		return e.syncSchemas(ctx)
	}
	return nil
}

// Restore brings back the columns a contract of name dropped, with their
// archived values, then runs restore.sql; the migration becomes restored.
func (e *Engine) Restore(ctx context.Context, name string) (err error) {
	hist, unlock, err := e.prepare(ctx)
	if err != nil {
		return err
	}
	defer e.release(unlock, &err)
	p, err := e.buildPlan(ctx, hist, OpRestore, name)
	if err != nil {
		return err
	}
	for i := range p.Items {
		it := &p.Items[i]
		m := e.set.Get(it.Migration)
		rec := hist[m.Name]
		began := e.opts.Now()
		if it.Phase != PhaseRestoring {
			rec.Phase, rec.Step, rec.Archive, rec.StartedAt, rec.UpdatedAt, rec.AppliedBy = PhaseRestoring, 0, it.Archive, began, began, e.opts.By
			recordSums(rec, m, FileRestore)
			if err := saveRecord(ctx, e.db, e.db.sql, rec); err != nil {
				return fmt.Errorf("restore %s: %w", m.Name, err)
			}
		}
		e.emit(ctx, Event{Migration: m.Name, Op: OpRestore, Kind: EventPhase, Phase: PhaseRestoring, Message: progressNote(it, false)})
		if err := e.runSteps(ctx, it, rec); err != nil {
			return err
		}
		done := e.opts.Now()
		rec.Phase, rec.RestoredAt, rec.UpdatedAt, rec.Duration = PhaseRestored, done, done, done.Sub(began)
		if err := saveRecord(ctx, e.db, e.db.sql, rec); err != nil {
			return fmt.Errorf("restore %s: %w", m.Name, err)
		}
		msg := fmt.Sprintf("restored (%d steps) in %s", len(it.Steps), rec.Duration.Round(1e6))
		e.emit(ctx, Event{Migration: m.Name, Op: OpRestore, Kind: EventPhase, Phase: PhaseRestored, Message: msg,
			Data: map[string]any{"steps": len(it.Steps), "duration_ms": rec.Duration.Milliseconds()}})
		e.say("%s: %s", m.Name, msg)
	}
	if len(p.Items) > 0 {
		return e.syncSchemas(ctx)
	}
	return nil
}

// recordSums stores the checksums of the given files (absent ones are
// recorded as absent, so adding one later counts as a change).
func recordSums(r *Record, m *Migration, kinds ...FileKind) {
	if r.Checksums == nil {
		r.Checksums = map[FileKind]string{}
	}
	for _, k := range kinds {
		if f := m.File(k); f != nil {
			r.Checksums[k] = f.Checksum
		} else {
			r.Checksums[k] = ""
		}
	}
}

// ChangedError is a file that changed after it ran.
type ChangedError struct {
	Migration string
	File      FileKind
	Path      string
	Recorded  string
	Now       string // "" when the file was removed
}

func (e *ChangedError) Error() string {
	what := "changed since it ran"
	switch {
	case e.Now == "":
		what = "was removed after it ran"
	case e.Recorded == "":
		what = "was added after its phase ran"
	}
	return fmt.Sprintf("migration %s: %s %s (recorded sha256 %.12s, now %.12s); put it back, or accept the change with `bluegreen migrate repair %s`",
		e.Migration, e.Path, what, orNone(e.Recorded), orNone(e.Now), e.Migration)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// changed lists the files of m that differ from what rec recorded.
func changed(m *Migration, rec *Record) []*ChangedError {
	var out []*ChangedError
	for _, k := range fileKinds {
		sum, ok := rec.Checksums[k]
		if !ok {
			continue
		}
		now := ""
		path := m.Dir + "/" + string(k)
		if f := m.File(k); f != nil {
			now, path = f.Checksum, f.Path
		}
		if now != sum {
			out = append(out, &ChangedError{Migration: m.Name, File: k, Path: path, Recorded: sum, Now: now})
		}
	}
	return out
}

// verify refuses any file changed since it ran.
func (e *Engine) verify(hist map[string]*Record) error {
	names := make([]string, 0, len(hist))
	for n := range hist {
		names = append(names, n)
	}
	sort.Strings(names)
	var errs []error
	for _, n := range names {
		m := e.set.Get(n)
		if m == nil {
			continue // status reports it as missing
		}
		for _, c := range changed(m, hist[n]) {
			errs = append(errs, c)
		}
	}
	return errors.Join(errs...)
}

// Repair accepts the current files of name as what ran: it records their
// checksums. It runs nothing else.
func (e *Engine) Repair(ctx context.Context, name string) (err error) {
	m := e.set.Get(name)
	if m == nil {
		return fmt.Errorf("repair %s: no such migration in %s", name, e.dirName())
	}
	unlock, err := e.lockRunner(ctx)
	if err != nil {
		return err
	}
	defer e.release(unlock, &err)
	if err := ensureHistory(ctx, e.db); err != nil {
		return err
	}
	hist, err := readHistory(ctx, e.db, e.db.sql)
	if err != nil {
		return err
	}
	rec := hist[name]
	if rec == nil {
		return fmt.Errorf("repair %s: it never ran; nothing to repair", name)
	}
	ch := changed(m, rec)
	if len(ch) == 0 {
		e.say("%s: no changed files", name)
		return nil
	}
	for _, c := range ch {
		if c.Now == "" {
			delete(rec.Checksums, c.File)
		} else {
			rec.Checksums[c.File] = c.Now
		}
		e.say("%s: accepted %s (sha256 %.12s → %.12s)", name, c.Path, orNone(c.Recorded), orNone(c.Now))
	}
	rec.UpdatedAt = e.opts.Now()
	if err := saveRecord(ctx, e.db, e.db.sql, rec); err != nil {
		return fmt.Errorf("repair %s: %w", name, err)
	}
	return nil
}

// Status is one migration as `migrate status` shows it.
type Status struct {
	Name    string
	Phase   Phase
	Record  *Record // nil when pending
	Missing bool    // in history but not in the directory
	Changed []*ChangedError
}

// Status lists every migration of the directory and of the history.
func (e *Engine) Status(ctx context.Context) ([]Status, error) {
	if err := ensureHistory(ctx, e.db); err != nil {
		return nil, err
	}
	hist, err := readHistory(ctx, e.db, e.db.sql)
	if err != nil {
		return nil, err
	}
	var out []Status
	for _, m := range e.set {
		s := Status{Name: m.Name, Phase: phaseOf(hist, m.Name), Record: hist[m.Name]}
		if s.Record != nil {
			s.Changed = changed(m, s.Record)
		}
		e.opts.Metrics.set(m.Name, s.Phase)
		out = append(out, s)
	}
	for n, r := range hist {
		if e.set.Get(n) == nil {
			out = append(out, Status{Name: n, Phase: r.Phase, Record: r, Missing: true})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
