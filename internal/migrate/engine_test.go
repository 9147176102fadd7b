package migrate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/capture"
	"github.com/bluegreen-dev/bluegreen/internal/golden"
)

// TestMigratePlanGolden: plan prints exactly the statements expand would
// run, and running nothing.
func TestMigratePlanGolden(t *testing.T) {
	dialects(t, func(t *testing.T, d Dialect) {
		ctx := context.Background()
		db := openDB(t, d)
		seedCustomers(t, db, 3)
		var rec recorder
		var out capture.Buffer
		e := New(db, load(t, filepath.Join("testdata", string(d))), testOptions(&rec, &out))
		p, err := e.Plan(ctx, OpExpand, "")
		if err != nil {
			t.Fatal(err)
		}
		golden.Assert(t, filepath.Join("testdata", "plan_expand_"+string(d)+".golden"), []byte(p.String()))
		if got := phase(t, e, splitAddress); got != PhasePending {
			t.Fatalf("plan changed the phase to %s", got)
		}
		if _, err := db.SQL().ExecContext(ctx, `SELECT street_address FROM customers`); err == nil {
			t.Fatal("plan ran a statement")
		}
		// Each planned step is what Expand runs, in order.
		if err := e.Expand(ctx, ""); err != nil {
			t.Fatal(err)
		}
		steps := rec.of(EventStep)
		if len(steps) != len(p.Items[0].Steps) {
			t.Fatalf("expand ran %d steps, plan had %d", len(steps), len(p.Items[0].Steps))
		}
		for i, s := range steps {
			if s.Message != firstLine(p.Items[0].Steps[i].SQL) {
				t.Errorf("step %d ran %q, plan said %q", i+1, s.Message, firstLine(p.Items[0].Steps[i].SQL))
			}
		}
	})
}

// TestMigrateChangedFileRefused: a file changed after it ran stops every
// operation with its name; repair accepts it.
func TestMigrateChangedFileRefused(t *testing.T) {
	dialects(t, func(t *testing.T, d Dialect) {
		ctx := context.Background()
		db := openDB(t, d)
		seedCustomers(t, db, 3)
		dir := copyDir(t, d)
		var rec recorder
		var out capture.Buffer
		if err := New(db, load(t, dir), testOptions(&rec, &out)).Expand(ctx, ""); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, splitAddress, "expand.sql")
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString("\n-- an edit\n"); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		e := New(db, load(t, dir), testOptions(&rec, &out))
		err = e.Contract(ctx, "", ContractOptions{})
		var ce *ChangedError
		if !errors.As(err, &ce) || ce.File != FileExpand || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "migrate repair "+splitAddress) {
			t.Fatalf("contract after an edit: %v", err)
		}
		if _, err := e.Plan(ctx, OpContract, ""); !errors.As(err, &ce) {
			t.Fatalf("plan after an edit: %v", err)
		}
		if err := e.Repair(ctx, splitAddress); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Plan(ctx, OpContract, ""); err != nil {
			t.Fatalf("plan after repair: %v", err)
		}
	})
}

// TestMigrateFailureResumes: a statement that fails leaves history at the
// last finished one; after the cause is fixed, a re-run resumes after it
// and does not run the finished statements again.
func TestMigrateFailureResumes(t *testing.T) {
	dialects(t, func(t *testing.T, d Dialect) {
		ctx := context.Background()
		db := openDB(t, d)
		exec(t, db, `CREATE TABLE t (id INTEGER PRIMARY KEY)`)
		dir := t.TempDir()
		m := filepath.Join(dir, "0001_add")
		if err := os.MkdirAll(m, 0o755); err != nil {
			t.Fatal(err)
		}
		write := func(name, text string) {
			if err := os.WriteFile(filepath.Join(m, name), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		write("expand.sql", "ALTER TABLE t ADD COLUMN a INTEGER;\nALTER TABLE t ADD COLUMN b INTEGER REFERENCES later(id);\nALTER TABLE t ADD COLUMN c INTEGER;\n")
		write("contract.sql", "-- nothing\n")
		var rec recorder
		var out capture.Buffer
		e := New(db, load(t, dir), testOptions(&rec, &out))
		err := e.Expand(ctx, "")
		if d == SQLite {
			// SQLite does not check the referenced table at ALTER time.
			if err != nil {
				t.Fatal(err)
			}
			return
		}
		if err == nil || !strings.Contains(err.Error(), "step 2/3") || !strings.Contains(err.Error(), "1 finished steps") {
			t.Fatalf("expand = %v, want a failure at step 2/3 with 1 finished", err)
		}
		st, err := e.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st[0].Phase != PhaseExpanding || st[0].Record.Step != 1 {
			t.Fatalf("status = %s step %d, want expanding step 1", st[0].Phase, st[0].Record.Step)
		}
		exec(t, db, `CREATE TABLE later (id INTEGER PRIMARY KEY)`)
		p, err := e.Plan(ctx, OpExpand, "")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(p.String(), "resuming after step 1 of 3") || strings.Contains(p.String(), "COLUMN a ") {
			t.Fatalf("resume plan:\n%s", p)
		}
		// Column a exists: running step 1 again would fail.
		if err := e.Expand(ctx, ""); err != nil {
			t.Fatal(err)
		}
		if got := phase(t, e, "0001_add"); got != PhaseExpanded {
			t.Fatalf("phase = %s", got)
		}
	})
}

// TestMigrateOneRunner: a second runner waits with a message and fails
// after its timeout while the first holds the lock.
func TestMigrateOneRunner(t *testing.T) {
	dialects(t, func(t *testing.T, d Dialect) {
		ctx := context.Background()
		db := openDB(t, d)
		var rec recorder
		var out capture.Buffer
		set := load(t, filepath.Join("testdata", string(d)))
		first := New(db, set, testOptions(&rec, &out))
		unlock, err := first.lockRunner(ctx)
		if err != nil {
			t.Fatal(err)
		}
		db2 := db
		if d == Postgres {
			// Another process would use its own pool; the same pool works
			// too, since the advisory lock is held by one session.
			db2 = db
		}
		var out2 capture.Buffer
		second := New(db2, set, testOptions(&rec, &out2))
		err = second.Expand(ctx, "")
		if !errors.Is(err, ErrRunnerBusy) {
			t.Fatalf("second runner = %v, want ErrRunnerBusy", err)
		}
		if !strings.Contains(out2.String(), "waiting for the migration runner lock") {
			t.Errorf("second runner said %q", out2.String())
		}
		if d == Postgres && !strings.Contains(err.Error(), "held by pid") {
			t.Errorf("error does not name the holder: %v", err)
		}
		if err := unlock(); err != nil {
			t.Fatal(err)
		}
		// Released: the next runner gets it at once.
		u2, err := second.lockRunner(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := u2(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestMigrateBackfillResumesAfterKill cancels the runner mid-backfill; the
// re-run resumes at the last committed batch and the table ends identical
// to an uninterrupted run's.
func TestMigrateBackfillResumesAfterKill(t *testing.T) {
	dialects(t, func(t *testing.T, d Dialect) {
		ctx := context.Background()
		const rows = 3000 // 6 batches of 500

		clean := openDB(t, d)
		seedCustomers(t, clean, rows)
		var rec0 recorder
		var out0 capture.Buffer
		if err := New(clean, load(t, filepath.Join("testdata", string(d))), testOptions(&rec0, &out0)).Expand(ctx, ""); err != nil {
			t.Fatal(err)
		}
		want := tableDigest(t, clean)

		db := openDB(t, d)
		seedCustomers(t, db, rows)
		killCtx, kill := context.WithCancel(ctx)
		var rec recorder
		rec.hook = func(ev Event) {
			if ev.Kind == EventBatch && ev.Batch.Hi >= 1501 {
				kill() // after the third batch committed
			}
		}
		var out capture.Buffer
		set := load(t, filepath.Join("testdata", string(d)))
		err := New(db, set, testOptions(&rec, &out)).Expand(killCtx, "")
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("killed expand = %v", err)
		}
		if got := queryString(t, db, `SELECT count(*) FROM customers WHERE city IS NULL`); got != "1500" {
			t.Fatalf("rows left after the kill = %s, want 1500", got)
		}
		var rec2 recorder
		e := New(db, set, testOptions(&rec2, &out))
		if err := e.Expand(ctx, ""); err != nil {
			t.Fatal(err)
		}
		batches := rec2.of(EventBatch)
		if len(batches) != 3 || batches[0].Batch.Lo != 1501 {
			t.Fatalf("resumed with %d batches starting at %d, want 3 starting at 1501", len(batches), batches[0].Batch.Lo)
		}
		if got := tableDigest(t, db); got != want {
			t.Fatal("table after kill and resume differs from an uninterrupted run")
		}
		st, err := e.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st[0].Record.BackfillRows != rows {
			t.Errorf("recorded backfill rows = %d, want %d", st[0].Record.BackfillRows, rows)
		}
	})
}

// TestMigrateBackfillThrottles: a batch slower than the target shrinks the
// next and inserts a pause.
func TestMigrateBackfillThrottles(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, SQLite)
	seedCustomers(t, db, 1000)
	var rec recorder
	var out capture.Buffer
	opts := testOptions(&rec, &out)
	opts.BatchTarget = time.Nanosecond // every batch is "slow"
	if err := New(db, load(t, filepath.Join("testdata", "sqlite")), opts).Expand(ctx, ""); err != nil {
		t.Fatal(err)
	}
	b := rec.of(EventBatch)
	if len(b) < 2 || b[0].Batch.Size != 250 || b[0].Batch.Pause <= 0 || b[1].Batch.Hi-b[1].Batch.Lo != 250 {
		t.Fatalf("first batches: %+v %+v", b[0].Batch, b[1].Batch)
	}
	if got := queryString(t, db, `SELECT count(*) FROM customers WHERE city IS NULL`); got != "0" {
		t.Fatalf("%s rows not backfilled", got)
	}
	if !strings.Contains(out.String(), "rows/s, ETA") {
		t.Errorf("no progress line in %q", out.String())
	}
}
