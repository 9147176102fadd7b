package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store"
	"github.com/bluegreen-dev/bluegreen/internal/store/storetest"
)

// openT opens the store at path and closes it when the test ends.
func openT(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close %s: %v", path, err)
		}
	})
	return s
}

func TestSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		path := filepath.Join(t.TempDir(), "state", "bluegreen.db")
		return func(t *testing.T) store.Store { return openT(t, path) }
	})
}

func TestOpenCreatesPrivateDirAndFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	path := filepath.Join(dir, "state.db")
	openT(t, path)
	for _, c := range []struct {
		path string
		mode os.FileMode
	}{{dir, 0o700 | os.ModeDir}, {path, 0o600}} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatalf("stat: %v", err)
		}
		if fi.Mode() != c.mode {
			t.Errorf("%s mode = %v, want %v", c.path, fi.Mode(), c.mode)
		}
	}
}

func TestOpenOddPath(t *testing.T) {
	// '?', '#', '%' and spaces are part of the file name, not URI syntax.
	path := filepath.Join(t.TempDir(), "my state?x=1#frag%20", "db")
	s := openT(t, path)
	if err := s.SaveRoute(t.Context(), "shop", store.Route{Live: "blue", Weights: map[slot.Slot]int{"blue": 100}}); err != nil {
		t.Fatalf("save route: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at the given path: %v", err)
	}
}

func TestPragmas(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "state.db"))
	ctx := t.Context()
	for _, c := range []struct {
		db     *sql.DB
		pragma string
		want   string
	}{
		{s.w, "journal_mode", "wal"},
		{s.w, "synchronous", "2"}, // FULL
		{s.w, "foreign_keys", "1"},
		{s.w, "busy_timeout", "10000"},
		{s.r, "journal_mode", "wal"},
		{s.r, "foreign_keys", "1"},
		{s.r, "query_only", "1"},
		{s.r, "busy_timeout", "10000"},
	} {
		var got string
		if err := c.db.QueryRowContext(ctx, "PRAGMA "+c.pragma).Scan(&got); err != nil {
			t.Fatalf("pragma %s: %v", c.pragma, err)
		}
		if got != c.want {
			t.Errorf("pragma %s = %s, want %s", c.pragma, got, c.want)
		}
	}
	if n := s.w.Stats().MaxOpenConnections; n != 1 {
		t.Errorf("writer pool allows %d connections, want 1", n)
	}
}

func TestSchemaVersionTable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	openT(t, path)
	s := openT(t, path) // a second open applies nothing

	rows, err := s.r.QueryContext(t.Context(), `SELECT version, name FROM bluegreen_schema_version ORDER BY version`)
	if err != nil {
		t.Fatalf("query schema versions: %v", err)
	}
	var got []migration
	for rows.Next() {
		var m migration
		if err := rows.Scan(&m.version, &m.name); err != nil {
			t.Fatalf("scan: %v", err)
		}
		got = append(got, m)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("rows: %v", err)
	}
	if err := rows.Close(); err != nil {
		t.Fatalf("close rows: %v", err)
	}
	want := migrations()
	if len(got) != len(want) {
		t.Fatalf("schema versions = %+v, want one row per migration (%d)", got, len(want))
	}
	for i := range want {
		if got[i].version != want[i].version || got[i].name != want[i].name {
			t.Errorf("schema version row %d = %+v, want %d %s", i, got[i], want[i].version, want[i].name)
		}
	}
	v, err := s.SchemaVersion(t.Context())
	if err != nil || v != latestVersion() {
		t.Errorf("SchemaVersion = %d, %v; want %d", v, err, latestVersion())
	}
}

func TestMigrationsAreOrdered(t *testing.T) {
	for i, m := range migrations() {
		if m.version != i+1 || m.name == "" || strings.TrimSpace(m.sql) == "" {
			t.Errorf("migration %d = version %d %q: versions must be 1, 2, 3… with a name and SQL", i, m.version, m.name)
		}
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	future := latestVersion() + 1
	if _, err := s.w.ExecContext(t.Context(),
		`INSERT INTO bluegreen_schema_version (version, name, applied_at) VALUES (?, 'from the future', '')`, future); err != nil {
		t.Fatalf("record a future version: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	s, err = Open(t.Context(), path)
	if err == nil {
		_ = s.Close()
		t.Fatalf("open of a database at schema %d succeeded; want a refusal", future)
	}
	for _, want := range []string{"newer", "upgrade bluegreen"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestConcurrentOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	const n = 6
	var wg sync.WaitGroup
	stores := make([]*Store, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = Open(context.Background(), path)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("open %d: %v", i, err)
			continue
		}
		if err := stores[i].Close(); err != nil {
			t.Errorf("close %d: %v", i, err)
		}
	}
	s := openT(t, path)
	var rows int
	if err := s.r.QueryRowContext(t.Context(), `SELECT count(*) FROM bluegreen_schema_version`).Scan(&rows); err != nil {
		t.Fatalf("count schema versions: %v", err)
	}
	if rows != len(migrations()) {
		t.Errorf("schema version rows = %d, want %d (each migration applied once)", rows, len(migrations()))
	}
}

func TestOneActiveEnforcedByDatabase(t *testing.T) {
	// Bypass the Go code: the index alone refuses a second active row.
	s := openT(t, filepath.Join(t.TempDir(), "state.db"))
	insert := `INSERT INTO bluegreen_deployments (app, kind, version, slot, from_version, strategy, phase,
	active, paused, step, weight, traffic_moved, reason, rev, created_at, updated_at)
	VALUES ('shop', 'deploy', 'v', 'blue', '', 's', 'pending', ?, '', 0, 0, 0, '', 1, 'x', 'x')`
	for i, c := range []struct {
		active bool
		ok     bool
	}{{true, true}, {false, true}, {true, false}, {false, true}} {
		_, err := s.w.ExecContext(t.Context(), insert, c.active)
		if (err == nil) != c.ok {
			t.Errorf("insert %d (active %v): err = %v, want ok %v", i, c.active, err, c.ok)
		}
		if err != nil && !isActiveViolation(err) {
			t.Errorf("insert %d: err = %v is not recognised as the active-index violation", i, err)
		}
	}
}

func TestOpenEmptyPath(t *testing.T) {
	if s, err := Open(t.Context(), ""); err == nil {
		_ = s.Close()
		t.Fatal("open with an empty path succeeded")
	}
}

// A state file written by a bluegreen of schema version 1 is brought up to
// date on open: its data stays, and the MCP session table is there.
func TestUpgradeFromVersion1(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.db")
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", dsn(abs, false))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, createVersionTable); err != nil {
		t.Fatal(err)
	}
	if err := apply(ctx, db, migrations()[0]); err != nil {
		t.Fatalf("apply version 1: %v", err)
	}
	if _, err := db.ExecContext(ctx,
		`INSERT INTO bluegreen_routes (app, live, weights, updated_at) VALUES ('shop', 'green', '{"green":100}', ?)`,
		formatTime(now())); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := openT(t, path)
	if v, err := s.SchemaVersion(ctx); err != nil || v != latestVersion() {
		t.Fatalf("schema version after open = %d, %v; want %d", v, err, latestVersion())
	}
	if r, err := s.LoadRoute(ctx, "shop"); err != nil || r.Live != "green" {
		t.Fatalf("route after upgrade = %+v, %v; want green live", r, err)
	}
	pin := store.MCPSession{ID: "x", Slot: "green", Instance: "127.0.0.1:1", LastUsed: now()}
	if err := s.SaveMCPSessions(ctx, "shop", []store.MCPSession{pin}); err != nil {
		t.Fatalf("save a pin after upgrade: %v", err)
	}
}
