package server

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/migrate"
)

// TestMigrationsView: the dashboard sees each migration's state, and for an
// expanded one whether the release gate would let its contract run now.
func TestMigrationsView(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for name, files := range map[string]map[string]string{
		"0001_add_email": {"expand.sql": "ALTER TABLE customers ADD COLUMN email TEXT;\n", "contract.sql": "ALTER TABLE customers DROP COLUMN name;\n"},
		"0002_add_phone": {"expand.sql": "ALTER TABLE customers ADD COLUMN phone TEXT;\n", "contract.sql": "SELECT 1;\n"},
	} {
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
	if err := migrate.New(db, set, migrate.Options{}).Expand(ctx, "0001_add_email"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{
		Dir:        dir,
		Migrations: config.Migrations{Dir: "migrations", DatabaseURL: url},
		Releases:   map[string]config.Release{"v2": {Requires: []string{"0001_add_email"}}},
	}
	log := slog.New(slog.DiscardHandler)

	// v1 (written before 0001) is warm: the contract is refused, naming it.
	v, err := migrationsView(ctx, cfg, []migrate.Running{{Slot: "green", Version: "v2", State: migrate.SlotLive}, {Slot: "blue", Version: "v1", State: migrate.SlotWarm}}, log, time.Now())
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
	v, err = migrationsView(ctx, cfg, []migrate.Running{{Slot: "green", Version: "v2", State: migrate.SlotLive}}, log, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if c := v.Migrations[0].Contract; c == nil || !c.Allowed {
		t.Fatalf("contract of 0001 with only v2 running: %+v, want allowed", c)
	}
}
