package server

import (
	"context"
	"database/sql"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/migrate"
)

// TestMigrationWatch: a migration run by another engine (as the CLI does)
// reaches serve's registry as bluegreen_migration_state and its event
// stream subscribers as migration events.
func TestMigrationWatch(t *testing.T) {
	dir := t.TempDir()
	mig := filepath.Join(dir, "migrations", "0001_add_email")
	if err := os.MkdirAll(mig, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"expand.sql":   "ALTER TABLE customers ADD COLUMN email TEXT;\n",
		"contract.sql": "ALTER TABLE customers DROP COLUMN name;\n",
	} {
		if err := os.WriteFile(filepath.Join(mig, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dbPath := filepath.Join(dir, "app.db")
	raw, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)`); err != nil {
		t.Fatal(err)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Dir: dir, Migrations: config.Migrations{Dir: "migrations", DatabaseURL: "sqlite:" + dbPath}}
	reg := prometheus.NewRegistry()
	w, err := newMigrationWatch(cfg, reg, slog.New(slog.DiscardHandler))
	if err != nil || w == nil {
		t.Fatalf("newMigrationWatch: %v, %v", w, err)
	}
	evs, cancelSub := w.subscribe(16)
	defer cancelSub()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	metric := func(phase string) string {
		return `bluegreen_migration_state{migration="0001_add_email",phase="` + phase + `"} 1`
	}
	migWaitUntil(t, "the pending migration on /metrics", func() bool { return migHasMetric(t, reg, metric("pending")) })

	// Another process's runner: its own engine on its own connection.
	db, err := migrate.Open(ctx, cfg.Migrations.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	set, err := migrate.Load(cfg.MigrationsDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate.New(db, set, migrate.Options{By: "ci@host"}).Expand(ctx, ""); err != nil {
		t.Fatal(err)
	}
	var got []string
	timeout := time.After(30 * time.Second)
	for len(got) < 2 {
		select {
		case ev := <-evs:
			le := ev.(migrate.LoggedEvent)
			got = append(got, string(le.Phase))
			if le.Migration != "0001_add_email" || le.By != "ci@host" {
				t.Errorf("event %+v", le)
			}
		case <-timeout:
			t.Fatalf("migration events after 30s: %v", got)
		}
	}
	if strings.Join(got, " ") != "expanding expanded" {
		t.Errorf("events = %v", got)
	}
	migWaitUntil(t, "the expanded migration on /metrics", func() bool { return migHasMetric(t, reg, metric("expanded")) })
}

func migHasMetric(t *testing.T, reg *prometheus.Registry, line string) bool {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var mig, ph string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "migration":
					mig = l.GetValue()
				case "phase":
					ph = l.GetValue()
				}
			}
			if `bluegreen_migration_state{migration="`+mig+`",phase="`+ph+`"} 1` == line && m.GetGauge().GetValue() == 1 {
				return true
			}
		}
	}
	return false
}

func migWaitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
