package migrate

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Op is an operation on migrations.
type Op string

// The operations that change the schema.
const (
	OpExpand   Op = "expand"
	OpContract Op = "contract"
	OpRestore  Op = "restore"
)

// Step is one statement of a plan. It commits on its own, together with
// the history row's step counter.
type Step struct {
	// Source is the file the statement comes from, or "" for a statement
	// the engine adds (archive, backup, restore of a column).
	Source FileKind
	SQL    string
	// NoTx: the statement cannot run in a transaction; it runs alone and
	// the step counter is written right after it.
	NoTx bool
	// Note says what an engine statement is for.
	Note string
}

// Item is what one migration does in a plan.
type Item struct {
	Migration string
	Op        Op
	Phase     Phase // before the operation
	// Done is how many Steps already finished in an interrupted run; the
	// run resumes at Steps[Done].
	Done  int
	Steps []Step
	// Backfill runs after the steps of an expand; nil without one.
	Backfill *BackfillPlan
	// Validate are the queries of validate.sql an expand plan shows: they
	// run at `migrate validate`, before traffic shifts to a release that
	// requires the migration, and before its contract.
	Validate []string
	// Archive is what a contract saves before dropping it.
	Archive []Archived
	// Warnings are things the operator should know (a DROP TABLE that is
	// not archived, …).
	Warnings []string
}

// Plan is the exact list of statements an operation would run.
type Plan struct {
	Op          Op
	Dialect     Dialect
	LockTimeout time.Duration
	Items       []Item
}

// Format writes the plan as SQL with comments: every statement that would
// run, in order, exactly as it would be sent.
func (p *Plan) Format(w io.Writer) error {
	var b strings.Builder
	if len(p.Items) == 0 {
		fmt.Fprintf(&b, "-- nothing to %s\n", p.Op)
	}
	for i, it := range p.Items {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "-- %s: %s (phase %s", it.Migration, it.Op, it.Phase)
		if it.Done > 0 {
			fmt.Fprintf(&b, "; resuming after step %d of %d", it.Done, len(it.Steps))
		}
		b.WriteString(")\n")
		for _, wmsg := range it.Warnings {
			fmt.Fprintf(&b, "-- WARNING: %s\n", wmsg)
		}
		for j := it.Done; j < len(it.Steps); j++ {
			s := it.Steps[j]
			fmt.Fprintf(&b, "-- step %d/%d", j+1, len(it.Steps))
			if s.Source != "" {
				fmt.Fprintf(&b, " from %s", s.Source)
			}
			switch {
			case s.NoTx:
				b.WriteString(", alone, outside a transaction")
			default:
				b.WriteString(", in its own transaction")
			}
			if p.Dialect == Postgres {
				fmt.Fprintf(&b, ", lock_timeout %s", p.LockTimeout)
			}
			if s.Note != "" {
				fmt.Fprintf(&b, ": %s", s.Note)
			}
			b.WriteString("\n")
			if p.Dialect == Postgres {
				fmt.Fprintf(&b, "-- lock: %s\n", lockOf(s.SQL))
			}
			b.WriteString(strings.TrimSpace(s.SQL))
			b.WriteString(";\n")
		}
		if bf := it.Backfill; bf != nil {
			fmt.Fprintf(&b, "-- backfill %s by %s in batches of up to %d keys, each in its own transaction", bf.Table, bf.Key, bf.BatchSize)
			if bf.Next != nil {
				fmt.Fprintf(&b, ", resuming at %s = %d", bf.Key, *bf.Next)
			}
			b.WriteString(";\n-- :lo and :hi are replaced by each batch's key range [lo, hi)\n")
			if p.Dialect == Postgres {
				fmt.Fprintf(&b, "-- lock: %s\n", lockOf(bf.SQL))
			}
			b.WriteString(strings.TrimSpace(bf.SQL))
			b.WriteString(";\n")
		}
		for j, q := range it.Validate {
			fmt.Fprintf(&b, "-- validate %d/%d (migrate validate, before traffic shifts, before contract): must return no rows\n", j+1, len(it.Validate))
			if p.Dialect == Postgres {
				fmt.Fprintf(&b, "-- lock: %s\n", lockOf(q))
			}
			b.WriteString(strings.TrimSpace(q))
			b.WriteString(";\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// String is Format as a string.
func (p *Plan) String() string {
	var b strings.Builder
	_ = p.Format(&b) // a strings.Builder does not fail
	return b.String()
}

// expandSteps are the statements of expand.sql.
func expandSteps(d Dialect, m *Migration) []Step {
	return fileSteps(d, m.File(FileExpand))
}

func fileSteps(d Dialect, f *File) []Step {
	if f == nil {
		return nil
	}
	steps := make([]Step, 0, len(f.Statements))
	for _, s := range f.Statements {
		steps = append(steps, Step{Source: f.Kind, SQL: s, NoTx: needsNoTx(d, s)})
	}
	return steps
}
