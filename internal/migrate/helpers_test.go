package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/capture"
	"github.com/bluegreen-dev/bluegreen/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// dialects runs fn once per database.
func dialects(t *testing.T, fn func(t *testing.T, d Dialect)) {
	for _, d := range []Dialect{Postgres, SQLite} {
		t.Run(string(d), func(t *testing.T) { fn(t, d) })
	}
}

// openDB opens an empty database of dialect d for the test.
func openDB(t *testing.T, d Dialect) *DB {
	t.Helper()
	url := ""
	switch d {
	case Postgres:
		url = pgtest.URL(t)
	case SQLite:
		url = "sqlite:" + filepath.Join(t.TempDir(), "app.db")
	}
	db, err := Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return db
}

// copyDir copies testdata/<dialect> to a temp dir (tests change files).
func copyDir(t *testing.T, d Dialect) string {
	t.Helper()
	src := filepath.Join("testdata", string(d))
	dst := t.TempDir()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func load(t *testing.T, dir string) Set {
	t.Helper()
	set, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// recorder collects events safely.
type recorder struct {
	mu     sync.Mutex
	events []Event
	hook   func(Event)
}

func (r *recorder) on(ev Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	h := r.hook
	r.mu.Unlock()
	if h != nil {
		h(ev)
	}
}

func (r *recorder) of(k EventKind) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Event
	for _, e := range r.events {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

func testOptions(rec *recorder, out *capture.Buffer) Options {
	return Options{
		LockTimeout: 200 * time.Millisecond,
		RetryBase:   20 * time.Millisecond,
		RetryMax:    100 * time.Millisecond,
		RunnerWait:  500 * time.Millisecond,
		BatchSize:   500,
		BatchTarget: time.Minute, // no throttling unless a test wants it
		DutyCycle:   1,
		OnEvent:     rec.on,
		Out:         out,
		By:          "test@host",
	}
}

// seedCustomers creates v1's table with n customers (v1 writes address).
func seedCustomers(t *testing.T, db *DB, n int) {
	t.Helper()
	ctx := context.Background()
	if _, err := db.SQL().ExecContext(ctx, `CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, address TEXT)`); err != nil {
		t.Fatal(err)
	}
	tx, err := db.SQL().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		if _, err := tx.ExecContext(ctx, db.rebind(`INSERT INTO customers (id, name, address) VALUES (?, ?, ?)`),
			i, fmt.Sprintf("c%d", i), fmt.Sprintf("%d Main St, Springfield, IL %05d", i, 60000+i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func queryString(t *testing.T, db *DB, q string, args ...any) string {
	t.Helper()
	var s sql.NullString
	if err := db.SQL().QueryRowContext(context.Background(), db.rebind(q), args...).Scan(&s); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return s.String
}

func exec(t *testing.T, db *DB, q string, args ...any) {
	t.Helper()
	if _, err := db.SQL().ExecContext(context.Background(), db.rebind(q), args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func phase(t *testing.T, e *Engine, name string) Phase {
	t.Helper()
	st, err := e.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if s.Name == name {
			return s.Phase
		}
	}
	t.Fatalf("no status for %s", name)
	return ""
}

// tableDigest is the whole customers table as text, ordered by id.
func tableDigest(t *testing.T, db *DB) string {
	t.Helper()
	rows, err := db.SQL().QueryContext(context.Background(), `SELECT id, coalesce(address,''), coalesce(street_address,''), coalesce(city,''), coalesce(state,''), coalesce(zip_code,'') FROM customers ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id int
		var a, s, c, st, z string
		if err := rows.Scan(&id, &a, &s, &c, &st, &z); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%d|%s|%s|%s|%s|%s\n", id, a, s, c, st, z)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
