package migrate

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/capture"
)

// writeMigration writes dir/name/{expand,contract}.sql.
func writeMigration(t *testing.T, dir, name, expand, contract string) {
	t.Helper()
	m := filepath.Join(dir, name)
	if err := os.MkdirAll(m, 0o755); err != nil {
		t.Fatal(err)
	}
	for f, text := range map[string]string{"expand.sql": expand, "contract.sql": contract} {
		if err := os.WriteFile(filepath.Join(m, f), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMigrateLockTimeoutRetriesAndReadersFlow: another session holds a lock
// that conflicts with ALTER TABLE during expand. The runner waits in
// lock_timeout slices, names the blocking session, retries; meanwhile a
// third session's reads keep completing (a runner without lock_timeout
// would queue its ACCESS EXCLUSIVE request and block them until the blocker
// commits, which here happens only after the reads are done). When the
// blocker commits, the expand succeeds.
func TestMigrateLockTimeoutRetriesAndReadersFlow(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, Postgres)
	seedCustomers(t, db, 10)
	dir := t.TempDir()
	writeMigration(t, dir, "0001_add_note", "ALTER TABLE customers ADD COLUMN note text;\nCREATE INDEX CONCURRENTLY customers_note ON customers (note);\n", "ALTER TABLE customers DROP COLUMN note;\n")

	blocker, err := db.SQL().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Close()
	if _, err := blocker.ExecContext(ctx, `SET application_name = 'test-blocker'`); err != nil {
		t.Fatal(err)
	}
	btx, err := blocker.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer btx.Rollback() //nolint:errcheck
	if _, err := btx.ExecContext(ctx, `SELECT count(*) FROM customers`); err != nil {
		t.Fatal(err)
	}
	var blockerPID int64
	if err := btx.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&blockerPID); err != nil {
		t.Fatal(err)
	}

	timeouts := make(chan Event, 100)
	var rec recorder
	rec.hook = func(ev Event) {
		if ev.Kind == EventLockTimeout {
			timeouts <- ev
		}
	}
	var out capture.Buffer
	e := New(db, load(t, dir), testOptions(&rec, &out))
	done := make(chan error, 1)
	go func() { done <- e.Expand(ctx, "") }()

	waitTimeout := func() Event {
		t.Helper()
		select {
		case ev := <-timeouts:
			return ev
		case err := <-done:
			t.Fatalf("expand ended while blocked: %v", err)
		case <-time.After(30 * time.Second):
			t.Fatal("no lock timeout reported")
		}
		return Event{}
	}
	first := waitTimeout()

	// Readers in a third session keep flowing while the runner retries.
	reader, err := db.SQL().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	for i := 0; i < 5; i++ {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second) // generous: lock_timeout is 200ms
		var n int
		err := reader.QueryRowContext(rctx, `SELECT count(*) FROM customers`).Scan(&n)
		cancel()
		if err != nil {
			t.Fatalf("read %d while the runner waits: %v", i, err)
		}
	}
	second := waitTimeout()
	if second.Attempt <= first.Attempt {
		t.Errorf("attempts %d then %d", first.Attempt, second.Attempt)
	}
	named := false
	for _, ev := range []Event{first, second} {
		for _, b := range ev.Blockers {
			if b.PID == blockerPID && b.Application == "test-blocker" && b.State == "idle in transaction" {
				named = true
			}
		}
	}
	if !named {
		t.Errorf("the blocker (pid %d) was not named: %+v / %+v", blockerPID, first.Blockers, second.Blockers)
	}
	if !strings.Contains(out.String(), "test-blocker") {
		t.Errorf("output does not name the blocker:\n%s", out.String())
	}

	if err := btx.Commit(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("expand did not finish after the blocker committed")
	}
	if got := queryString(t, db, `SELECT count(*) FROM pg_index WHERE indexrelid = 'customers_note'::regclass AND indisvalid`); got != "1" {
		t.Errorf("concurrent index not built (valid count %s)", got)
	}
}

// TestMigrateInvalidIndexDroppedBeforeRetry: a concurrent unique index
// build that fails leaves an INVALID index; the next run drops it and
// builds it again.
func TestMigrateInvalidIndexDroppedBeforeRetry(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, Postgres)
	seedCustomers(t, db, 10)
	exec(t, db, `UPDATE customers SET name = 'dup' WHERE id IN (1, 2)`)
	dir := t.TempDir()
	writeMigration(t, dir, "0001_unique_name", "CREATE UNIQUE INDEX CONCURRENTLY customers_name_u ON customers (name);\n", "-- nothing\n")
	var rec recorder
	var out capture.Buffer
	e := New(db, load(t, dir), testOptions(&rec, &out))
	if err := e.Expand(ctx, ""); err == nil {
		t.Fatal("expand over duplicate names succeeded")
	}
	if got := queryString(t, db, `SELECT count(*) FROM pg_index WHERE indexrelid = to_regclass('customers_name_u') AND NOT indisvalid`); got != "1" {
		t.Fatalf("no INVALID index left by the failed build (count %s)", got)
	}
	exec(t, db, `UPDATE customers SET name = 'c2' WHERE id = 2`)
	if err := e.Expand(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if got := queryString(t, db, `SELECT count(*) FROM pg_index WHERE indexrelid = to_regclass('customers_name_u') AND indisvalid`); got != "1" {
		t.Fatalf("index not rebuilt valid (count %s)", got)
	}
	if !strings.Contains(out.String(), "dropping INVALID index customers_name_u") {
		t.Errorf("output: %s", out.String())
	}
}

func TestMigrateSplitStatements(t *testing.T) {
	src := `-- c; not a statement
CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;
INSERT INTO t VALUES ('a;b', E'c\';d', "x;y"); /* ; */
CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET a = CASE WHEN 1 THEN 2 END; SELECT 1; END;
CREATE INDEX CONCURRENTLY i ON t (a)`
	got, err := splitStatements(src)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("got %d statements: %q", len(got), got)
	}
	if !needsNoTx(Postgres, got[3]) || needsNoTx(Postgres, got[1]) || concurrentIndexName(got[3]) != "i" {
		t.Errorf("no-transaction detection wrong for %q", got)
	}
	if !isTxControl("begin") || !isTxControl("COMMIT") || isTxControl("BEGIN_x") {
		t.Error("transaction control detection wrong")
	}
}

// TestMigrateFileNotUTF8: a file in another encoding is refused with the
// line of its first bad byte, before any statement is split or run.
func TestMigrateFileNotUTF8(t *testing.T) {
	_, err := parseFile("m/expand.sql", FileExpand, []byte("ALTER TABLE t ADD c text;\n-- caf\xe9\nSELECT 1;"))
	if err == nil || !strings.Contains(err.Error(), "m/expand.sql:2: not UTF-8") {
		t.Fatalf("got %v, want m/expand.sql:2: not UTF-8", err)
	}
	if _, err := parseFile("m/expand.sql", FileExpand, []byte("-- café\nSELECT 1;")); err != nil {
		t.Fatalf("valid UTF-8 refused: %v", err)
	}
}

func TestMigrateCanContract(t *testing.T) {
	rel := map[string][]string{"v2": {"0007_split"}, "v3": {"0009_other"}, "v1": {"0003_old"}}
	cases := []struct {
		running []Running
		refused string // version, "" when allowed
	}{
		{[]Running{{Slot: "blue", Version: "v1", State: SlotWarm}, {Slot: "green", Version: "v2", State: SlotLive}}, "v1"},
		{[]Running{{Slot: "green", Version: "v2", State: SlotLive}}, ""},
		{[]Running{{Slot: "blue", Version: "v3", State: SlotLive}, {Slot: "green", Version: "v2", State: SlotWarm}}, ""}, // v3 requires a later migration
		{[]Running{{Slot: "blue", Version: "v0", State: SlotLive}}, "v0"},                                                // not in the config: may need the old shape
		{[]Running{{Slot: "blue", State: SlotWarm}, {Slot: "green", Version: "v2", State: SlotLive}}, ""},                // empty slot
	}
	for _, c := range cases {
		err := CanContract("0007_split", c.running, rel)
		switch {
		case c.refused == "" && err != nil:
			t.Errorf("%v: refused: %v", c.running, err)
		case c.refused != "":
			ge, ok := err.(*GateError)
			if !ok || ge.Blocking.Version != c.refused || !strings.Contains(err.Error(), "slot "+string(ge.Blocking.Slot)) {
				t.Errorf("%v: err = %v, want refused naming %s", c.running, err, c.refused)
			}
		}
	}
}
