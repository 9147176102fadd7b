package schemagate

import (
	"context"
	"database/sql"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/migrate"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/verify"
)

// TestSchemaGate: a release that requires a migration is refused while the
// migration is not expanded, then while validate.sql finds rows, and let
// through once the schema and the data are right. A release that requires
// nothing is not gated.
func TestSchemaGate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	mig := filepath.Join(dir, "migrations", "0001_add_email")
	if err := os.MkdirAll(mig, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"expand.sql":   "ALTER TABLE customers ADD COLUMN email TEXT;\n",
		"contract.sql": "ALTER TABLE customers DROP COLUMN name;\n",
		"validate.sql": "SELECT id, name FROM customers WHERE email IS NULL ORDER BY id;\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(mig, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dbPath := filepath.Join(dir, "app.db")
	raw, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO customers VALUES (1, 'ada')`); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{
		Dir:        dir,
		Migrations: config.Migrations{Dir: "migrations", DatabaseURL: "sqlite:" + dbPath},
		Releases:   map[string]config.Release{"v2": {Requires: []string{"0001_add_email"}}},
	}
	gate := Wrap(cfg, nil, slog.New(slog.DiscardHandler))
	if gate == nil {
		t.Fatal("no gate although v2 requires a migration")
	}
	verdict := func(version string) (bool, string) {
		t.Helper()
		passed, data, err := gate.Verify(ctx, slot.Green, version)
		if err != nil {
			t.Fatalf("verify %s: %v", version, err)
		}
		if data == nil {
			return passed, ""
		}
		var rep verify.Report
		if err := json.Unmarshal(data, &rep); err != nil {
			t.Fatal(err)
		}
		if len(rep.Results) != 1 || rep.Results[0].Name != "schema" || rep.Results[0].Passed != passed {
			t.Fatalf("report %+v does not match verdict %v", rep, passed)
		}
		return passed, rep.Results[0].Reason
	}

	if ok, why := verdict("v2"); ok || !strings.Contains(why, "0001_add_email") {
		t.Fatalf("before expand: passed=%v %q; want refused naming the migration", ok, why)
	}
	set, err := migrate.Load(cfg.MigrationsDir())
	if err != nil {
		t.Fatal(err)
	}
	db, err := migrate.Open(ctx, cfg.Migrations.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate.New(db, set, migrate.Options{}).Expand(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if ok, why := verdict("v2"); ok || !strings.Contains(why, "ada") {
		t.Fatalf("expanded but a row lacks email: passed=%v %q; want refused showing the row", ok, why)
	}
	if _, err := raw.Exec(`UPDATE customers SET email = 'ada@example.com'`); err != nil {
		t.Fatal(err)
	}
	if ok, why := verdict("v2"); !ok {
		t.Fatalf("expanded and valid: refused: %s", why)
	}
	if ok, _, err := gate.Verify(ctx, slot.Green, "v1"); err != nil || !ok {
		t.Fatal("v1 requires nothing but was refused")
	}

	// With checks behind it, a passing gate runs them and reports both.
	checks := &fakeChecks{passed: false}
	ok, data, err := Wrap(cfg, checks, slog.New(slog.DiscardHandler)).Verify(ctx, slot.Green, "v2")
	if err != nil {
		t.Fatal(err)
	}
	var rep verify.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if ok || rep.Passed || checks.calls != 1 || len(rep.Results) != 2 || rep.Results[0].Name != "schema" || !rep.Results[0].Passed || rep.Results[1].Name != "smoke" {
		t.Fatalf("gate passed, checks failed: ok=%v calls=%d report %+v; want the schema result then the failed check", ok, checks.calls, rep)
	}
}

// TestSchemaGateChecks: the checks run only after the gate passes, and
// without any requires there is no gate at all.
func TestSchemaGateChecks(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	checks := &fakeChecks{passed: true}
	if v := Wrap(&config.Config{Releases: map[string]config.Release{"v1": {}}}, checks, log); v != checks {
		t.Fatalf("no release requires a migration: Wrap = %#v, want the checks themselves", v)
	}
	// v2 requires a migration but the schema cannot be checked: refused,
	// and the checks never run.
	cfg := &config.Config{Releases: map[string]config.Release{"v2": {Requires: []string{"0001_add_email"}}}}
	ok, data, err := Wrap(cfg, checks, log).Verify(ctx, slot.Blue, "v2")
	if err != nil {
		t.Fatal(err)
	}
	var rep verify.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if ok || checks.calls != 0 || len(rep.Results) != 1 || !strings.Contains(rep.Results[0].Reason, "migrations.database_url is not set") {
		t.Fatalf("unchecked schema: ok=%v calls=%d report %+v; want refused before the checks", ok, checks.calls, rep)
	}
	// A release without requires goes straight to the checks.
	if ok, _, err := Wrap(cfg, checks, log).Verify(ctx, slot.Blue, "v1"); err != nil || !ok || checks.calls != 1 {
		t.Fatalf("v1: ok=%v err=%v calls=%d; want the checks' verdict", ok, err, checks.calls)
	}
}

// fakeChecks is a check suite with one check, smoke, of a fixed verdict.
type fakeChecks struct {
	passed bool
	calls  int
}

func (f *fakeChecks) Verify(_ context.Context, sl slot.Slot, version string) (bool, json.RawMessage, error) {
	f.calls++
	data, err := json.Marshal(verify.Report{Slot: sl, Version: version, Passed: f.passed,
		Results: []verify.Result{{Name: "smoke", Kind: "http", Passed: f.passed}}})
	return f.passed, data, err
}
