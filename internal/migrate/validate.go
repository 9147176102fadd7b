package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// maxShownRows is how many offending rows a validation failure shows.
const maxShownRows = 5

// ValidationError is a validate.sql query that returned rows.
type ValidationError struct {
	Migration string
	Path      string
	Query     int // 1-based statement index in validate.sql
	SQL       string
	Columns   []string
	Rows      [][]string // the first rows, at most maxShownRows
	More      bool       // there were more rows than shown
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "validate %s: %s query %d (%s) returned rows, want none; first rows:\n", e.Migration, e.Path, e.Query, firstLine(e.SQL))
	b.WriteString("  " + strings.Join(e.Columns, " | "))
	for _, r := range e.Rows {
		b.WriteString("\n  " + strings.Join(r, " | "))
	}
	if e.More {
		b.WriteString("\n  …")
	}
	return b.String()
}

// Validate runs validate.sql of the named migrations (all expanded or
// restored ones when names is empty): every query must return no rows. It
// is the gate before a deployment that requires a migration shifts traffic,
// and before a contract. A named migration that is not expanded is an error.
func (e *Engine) Validate(ctx context.Context, names []string) error {
	if err := ensureHistory(ctx, e.db); err != nil {
		return err
	}
	hist, err := readHistory(ctx, e.db, e.db.sql)
	if err != nil {
		return err
	}
	var todo []*Migration
	if len(names) == 0 {
		for _, m := range e.set {
			switch phaseOf(hist, m.Name) {
			case PhaseExpanded, PhaseRestored:
				todo = append(todo, m)
			case PhasePending, PhaseExpanding, PhaseContracting, PhaseContracted, PhaseRestoring:
			}
		}
	}
	for _, n := range names {
		m := e.set.Get(n)
		if m == nil {
			return fmt.Errorf("validate %s: no such migration in %s", n, e.dirName())
		}
		switch ph := phaseOf(hist, n); ph {
		case PhaseExpanded, PhaseRestored:
			todo = append(todo, m)
		case PhasePending, PhaseExpanding, PhaseContracting, PhaseContracted, PhaseRestoring:
			return fmt.Errorf("validate %s: it is %s; validate.sql checks an expanded (or restored) migration", n, ph)
		}
	}
	var errs []error
	for _, m := range todo {
		if err := e.validate(ctx, m); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// validate runs one migration's validate.sql.
func (e *Engine) validate(ctx context.Context, m *Migration) error {
	f := m.File(FileValidate)
	if f == nil {
		return nil
	}
	for i, q := range f.Statements {
		if err := e.validateQuery(ctx, m, f, i, q); err != nil {
			return err
		}
	}
	e.say("%s: validate.sql passed (%d queries)", m.Name, len(f.Statements))
	return nil
}

func (e *Engine) validateQuery(ctx context.Context, m *Migration, f *File, i int, q string) error {
	rows, err := e.db.sql.QueryContext(ctx, q)
	if err != nil {
		return fmt.Errorf("validate %s: %s query %d: %w", m.Name, f.Path, i+1, err)
	}
	defer rows.Close() //nolint:errcheck // rows.Err is checked below
	cols, err := rows.Columns()
	if err != nil {
		return fmt.Errorf("validate %s: %s query %d: %w", m.Name, f.Path, i+1, err)
	}
	ve := &ValidationError{Migration: m.Name, Path: f.Path, Query: i + 1, SQL: q, Columns: cols}
	for rows.Next() {
		if len(ve.Rows) == maxShownRows {
			ve.More = true
			break
		}
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for j := range vals {
			ptrs[j] = &vals[j]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("validate %s: %s query %d: %w", m.Name, f.Path, i+1, err)
		}
		row := make([]string, len(cols))
		for j, v := range vals {
			row[j] = "NULL"
			if v.Valid {
				row[j] = v.String
			}
		}
		ve.Rows = append(ve.Rows, row)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("validate %s: %s query %d: %w", m.Name, f.Path, i+1, err)
	}
	if len(ve.Rows) > 0 {
		return ve
	}
	return nil
}
