package postgres

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/bluegreen-dev/bluegreen/internal/pgtest"
	"github.com/bluegreen-dev/bluegreen/internal/store"
	"github.com/bluegreen-dev/bluegreen/internal/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// openT opens the store at url and closes it when the test ends.
func openT(t *testing.T, url string) *Store {
	t.Helper()
	s, err := Open(t.Context(), url)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return s
}

func TestSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		url := pgtest.URL(t)
		return func(t *testing.T) store.Store { return openT(t, url) }
	})
}

// count runs a count query on the store's pool.
func count(t *testing.T, s *Store, query string, args ...any) int {
	t.Helper()
	var n int
	if err := s.pool.QueryRow(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestSchemaVersionTable(t *testing.T) {
	url := pgtest.URL(t)
	openT(t, url)
	s := openT(t, url)
	rows, err := s.pool.Query(t.Context(), `SELECT version, name FROM bluegreen_schema_version ORDER BY version`)
	if err != nil {
		t.Fatalf("query schema versions: %v", err)
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (migration, error) {
		var m migration
		err := r.Scan(&m.version, &m.name)
		return m, err
	})
	if err != nil {
		t.Fatalf("read schema versions: %v", err)
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
	if v, err := s.SchemaVersion(t.Context()); err != nil || v != latestVersion() {
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

func TestConcurrentOpenMigratesOnce(t *testing.T) {
	// Without the advisory lock, CREATE TABLE races fail here.
	url := pgtest.URL(t)
	const n = 6
	var wg sync.WaitGroup
	stores := make([]*Store, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = Open(context.Background(), url)
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
	s := openT(t, url)
	if got := count(t, s, `SELECT count(*) FROM bluegreen_schema_version`); got != len(migrations()) {
		t.Errorf("schema version rows = %d, want %d (each migration applied once)", got, len(migrations()))
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	url := pgtest.URL(t)
	s, err := Open(t.Context(), url)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	future := latestVersion() + 1
	if _, err := s.pool.Exec(t.Context(),
		`INSERT INTO bluegreen_schema_version (version, name) VALUES ($1, 'from the future')`, future); err != nil {
		t.Fatalf("record a future version: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	s, err = Open(t.Context(), url)
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

func TestTablesArePrefixed(t *testing.T) {
	s := openT(t, pgtest.URL(t))
	rows, err := s.pool.Query(t.Context(), `
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'i', 'S')`)
	if err != nil {
		t.Fatalf("list relations: %v", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("read relations: %v", err)
	}
	if len(names) == 0 {
		t.Fatal("no relations in the current schema")
	}
	for _, name := range names {
		if !strings.HasPrefix(name, "bluegreen_") {
			t.Errorf("relation %q does not start with bluegreen_", name)
		}
	}
}

func TestOneActiveEnforcedByDatabase(t *testing.T) {
	// Bypass the Go code: the index alone refuses a second active row, and
	// the error is recognised as that index's.
	s := openT(t, pgtest.URL(t))
	insert := `INSERT INTO bluegreen_deployments (app, kind, version, slot, from_version, strategy, phase,
	active, paused, step, weight, traffic_moved, reason, rev, created_at, updated_at)
	VALUES ('shop', 'deploy', 'v', 'blue', '', 's', 'pending', $1, '', 0, 0, false, '', 1, now(), now())`
	for i, c := range []struct {
		active bool
		ok     bool
	}{{true, true}, {false, true}, {true, false}, {false, true}} {
		_, err := s.pool.Exec(t.Context(), insert, c.active)
		if (err == nil) != c.ok {
			t.Errorf("insert %d (active %v): err = %v, want ok %v", i, c.active, err, c.ok)
		}
		if err != nil && !isActiveViolation(err) {
			t.Errorf("insert %d: err = %v is not recognised as the active-index violation", i, err)
		}
	}
}

func TestOpenBadURL(t *testing.T) {
	_, err := Open(t.Context(), "postgres://user:s3cret@[::1")
	if err == nil {
		t.Fatal("open with a malformed URL succeeded")
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %q shows the password", err)
	}
}
