package schemagate

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/bluegreen-dev/bluegreen/internal/api"
	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/golden"
	"github.com/bluegreen-dev/bluegreen/internal/migrate"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// TestMigrationsView: the dashboard sees each migration's state, and for an
// expanded one whether the release gate would let its contract run now.
func TestMigrationsView(t *testing.T) {
	ctx := context.Background()
	cfg := viewFixture(t, []string{"0001_add_email", "0002_add_phone"}, "0001_add_email")
	log := slog.New(slog.DiscardHandler)

	// v1 (written before 0001) is warm: the contract is refused, naming it.
	v, err := readView(ctx, cfg, []migrate.Running{{Slot: "green", Version: "v2", State: migrate.SlotLive}, {Slot: "blue", Version: "v1", State: migrate.SlotWarm}}, log, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Migrations) != 2 || v.Migrations[0].Phase != "expanded" || v.Migrations[1].Phase != "pending" || v.Migrations[1].Contract != nil {
		t.Fatalf("view %+v, want 0001 expanded and 0002 pending", v)
	}
	if c := v.Migrations[0].Contract; c == nil || c.Allowed || !strings.Contains(c.Reason, "v1") {
		t.Fatalf("contract of 0001 while v1 is warm: %+v, want refused naming v1", c)
	}
	// Only v2 runs: allowed.
	v, err = readView(ctx, cfg, []migrate.Running{{Slot: "green", Version: "v2", State: migrate.SlotLive}}, log, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if c := v.Migrations[0].Contract; c == nil || !c.Allowed {
		t.Fatalf("contract of 0001 with only v2 running: %+v, want allowed", c)
	}
}

// TestMigrationsViewGolden pins the JSON of GET /api/v1/migrations as the
// admin API encodes it, reasons included, for a migration that is expanded
// but gone from migrations.dir, one expanded and one pending, while a warm
// release blocks the contract, while the live one bakes, and once it may
// run. The files were taken from the view before it moved here.
func TestMigrationsViewGolden(t *testing.T) {
	ctx := context.Background()
	cfg := viewFixture(t, []string{"0000_add_note", "0001_add_email", "0002_add_phone"}, "0001_add_email")
	cfg.BakeTime = config.Duration(10 * time.Minute)
	// 0000 was expanded, then its directory removed: missing.
	if err := os.RemoveAll(filepath.Join(cfg.MigrationsDir(), "0000_add_note")); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	v2 := migrate.Running{Slot: "green", Version: "v2", State: migrate.SlotLive, PromotedAt: now.Add(-time.Minute)}
	for name, running := range map[string][]migrate.Running{
		"warm":    {v2, {Slot: "blue", Version: "v1", State: migrate.SlotWarm, StopAt: now.Add(5 * time.Minute)}},
		"baking":  {v2},
		"allowed": {{Slot: "green", Version: "v2", State: migrate.SlotLive, PromotedAt: now.Add(-time.Hour)}},
	} {
		v, err := readView(ctx, cfg, running, slog.New(slog.DiscardHandler), now)
		if err != nil {
			t.Fatal(err)
		}
		got, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, '\n')
		golden.Assert(t, filepath.Join("testdata", "view", name+".json"), got)
	}
}

// TestSource: no source without a database; with one, the view asks serve's
// facts which releases run.
func TestSource(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	if src := Source(&config.Config{}, &fakeFacts{}, log); src != nil {
		t.Fatal("a source without migrations.database_url; want nil (404)")
	}
	cfg := viewFixture(t, []string{"0001_add_email", "0002_add_phone"}, "0001_add_email")
	f := &fakeFacts{slots: []api.SlotStatus{
		{Slot: "blue", Version: "v1", State: slot.Running},
		{Slot: "green", Version: "v2", State: slot.Running, Live: true, Weight: 100},
	}}
	v, err := Source(cfg, f, log)(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c := v.Migrations[0].Contract; c == nil || c.Allowed || !strings.Contains(c.Reason, "slot blue runs release v1 (warm)") {
		t.Fatalf("contract of 0001 while blue runs v1: %+v, want refused naming it", c)
	}
}

// fixtureMigrations are the migrations viewFixture can write.
var fixtureMigrations = map[string]map[string]string{
	"0000_add_note":  {"expand.sql": "ALTER TABLE customers ADD COLUMN note TEXT;\n", "contract.sql": "SELECT 1;\n"},
	"0001_add_email": {"expand.sql": "ALTER TABLE customers ADD COLUMN email TEXT;\n", "contract.sql": "ALTER TABLE customers DROP COLUMN name;\n"},
	"0002_add_phone": {"expand.sql": "ALTER TABLE customers ADD COLUMN phone TEXT;\n", "contract.sql": "SELECT 1;\n"},
}

// viewFixture writes the named fixtureMigrations over a SQLite database
// with a customers table, expands them up to and including expand, and
// returns a config in which v2 requires 0001_add_email.
func viewFixture(t *testing.T, migrations []string, expand string) *config.Config {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	for _, name := range migrations {
		files := fixtureMigrations[name]
		mig := filepath.Join(dir, "migrations", name)
		if err := os.MkdirAll(mig, 0o755); err != nil {
			t.Fatal(err)
		}
		for f, body := range files {
			if err := os.WriteFile(filepath.Join(mig, f), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	url := "sqlite:" + filepath.Join(dir, "app.db")
	db, err := migrate.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL().ExecContext(ctx, `CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)`); err != nil {
		t.Fatal(err)
	}
	set, err := migrate.Load(filepath.Join(dir, "migrations"))
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate.New(db, set, migrate.Options{}).Expand(ctx, expand); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return &config.Config{
		Dir:        dir,
		Migrations: config.Migrations{Dir: "migrations", DatabaseURL: url},
		Releases:   map[string]config.Release{"v2": {Requires: []string{"0001_add_email"}}},
	}
}
