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
	// Sample is the --sample size the query ran over (0: every row);
	// Found is then how many rows of the sample it returned.
	Sample, Found int
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	if e.Sample > 0 {
		fmt.Fprintf(&b, "validate %s: %s query %d (%s) returned %d rows of a sample of up to %d per table, want none; first rows:\n", e.Migration, e.Path, e.Query, firstLine(e.SQL), e.Found, e.Sample)
	} else {
		fmt.Fprintf(&b, "validate %s: %s query %d (%s) returned rows, want none; first rows:\n", e.Migration, e.Path, e.Query, firstLine(e.SQL))
	}
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
	return e.ValidateSample(ctx, names, 0)
}

// ValidateSample is Validate over a random sample of up to sample rows of
// each table instead of every row (sample 0: every row), for the
// validators the engine generates from ops.yaml; a hand-written
// validate.sql runs as written. On PostgreSQL the sample is drawn with
// TABLESAMPLE BERNOULLI sized from the planner's row estimate (about four
// times the sample, then LIMIT), so it reads every page but checks only
// the sample; without an estimate (a table never analyzed), and on
// SQLite, with ORDER BY random() LIMIT.
func (e *Engine) ValidateSample(ctx context.Context, names []string, sample int) error {
	if sample < 0 {
		return fmt.Errorf("validate: sample %d: want a number of rows, 0 for every row", sample)
	}
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
		if err := e.validateSample(ctx, m, sample); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// validate runs one migration's validate.sql on every row.
func (e *Engine) validate(ctx context.Context, m *Migration) error {
	return e.validateSample(ctx, m, 0)
}

// validateSample runs one migration's validate.sql, its generated
// validators over a sample of up to sample rows of each table (0: every
// row).
func (e *Engine) validateSample(ctx context.Context, m *Migration, sample int) error {
	f := m.File(FileValidate)
	if f == nil {
		return nil
	}
	queries := f.Statements
	var vs []validator
	if dc := m.declared[e.db.dialect]; dc != nil && dc.generation != nil {
		vs = dc.validators
	}
	switch {
	case sample > 0 && len(vs) == len(f.Statements):
		queries = make([]string, len(vs))
		for i, v := range vs {
			from, err := e.sampleOf(ctx, v.table, sample)
			if err != nil {
				return fmt.Errorf("validate %s: %w", m.Name, err)
			}
			queries[i] = v.sql(from)
		}
	case sample > 0:
		e.say("%s: --sample applies to the validators generated from %s; %s runs on every row", m.Name, FileOps, f.Path)
		sample = 0
	}
	for i, q := range queries {
		if err := e.validateQuery(ctx, m, f, i, q, sample); err != nil {
			return err
		}
	}
	if sample > 0 {
		e.say("%s: validate.sql passed (%d queries, on a sample of up to %d rows of each table)", m.Name, len(queries), sample)
		return nil
	}
	e.say("%s: validate.sql passed (%d queries)", m.Name, len(queries))
	return nil
}

// sampleOf is the FROM item of a random sample of up to n rows of table.
func (e *Engine) sampleOf(ctx context.Context, table string, n int) (rowsOf, error) {
	src := fmt.Sprintf("(SELECT * FROM %s ORDER BY random() LIMIT %d)", table, n)
	if e.db.dialect == Postgres {
		var est float64
		if err := e.db.sql.QueryRowContext(ctx, `SELECT coalesce((SELECT reltuples FROM pg_class WHERE oid = to_regclass($1)), -1)`, table).Scan(&est); err != nil {
			return nil, fmt.Errorf("estimate the rows of %s: %w", table, err)
		}
		if est > 0 {
			pct := min(100, 400*float64(n)/est)
			src = fmt.Sprintf("(SELECT * FROM %s TABLESAMPLE BERNOULLI (%g) LIMIT %d)", table, pct, n)
		}
	}
	return func(alias string) string {
		if alias == "" {
			alias = table
		}
		return src + " AS " + alias
	}, nil
}

func (e *Engine) validateQuery(ctx context.Context, m *Migration, f *File, i int, q string, sample int) error {
	rows, err := e.db.sql.QueryContext(ctx, q)
	if err != nil {
		return fmt.Errorf("validate %s: %s query %d: %w", m.Name, f.Path, i+1, err)
	}
	defer rows.Close() //nolint:errcheck // rows.Err is checked below
	cols, err := rows.Columns()
	if err != nil {
		return fmt.Errorf("validate %s: %s query %d: %w", m.Name, f.Path, i+1, err)
	}
	ve := &ValidationError{Migration: m.Name, Path: f.Path, Query: i + 1, SQL: q, Columns: cols, Sample: sample}
	for rows.Next() {
		if len(ve.Rows) == maxShownRows {
			ve.More = true
			if sample == 0 {
				break
			}
			ve.Found++ // a sample's rows are few: count them all
			continue
		}
		ve.Found++
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
