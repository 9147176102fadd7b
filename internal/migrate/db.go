package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver
)

// Dialect is the kind of database migrations run on.
type Dialect string

// The supported databases.
const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// DB is the database migrations run on.
type DB struct {
	sql     *sql.DB
	dialect Dialect
	path    string // SQLite: the absolute file path
}

// Open connects to postgres://… / postgresql://… (pgx) or sqlite:path.
// The URL is never quoted in errors: it may hold a password.
func Open(ctx context.Context, rawURL string) (*DB, error) {
	switch {
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		db, err := sql.Open("pgx", rawURL)
		if err != nil {
			return nil, fmt.Errorf("open postgres database: %w", err)
		}
		if err := db.PingContext(ctx); err != nil {
			return nil, errors.Join(fmt.Errorf("open postgres database: %w", err), db.Close())
		}
		return &DB{sql: db, dialect: Postgres}, nil
	case strings.HasPrefix(rawURL, "sqlite:"):
		p := strings.TrimPrefix(strings.TrimPrefix(rawURL, "sqlite:"), "//")
		if p == "" {
			return nil, errors.New("open sqlite database: empty path in sqlite:path")
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("open sqlite database %s: %w", p, err)
		}
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Set("_txlock", "immediate")
		db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: abs, RawQuery: q.Encode()}).String())
		if err != nil {
			return nil, fmt.Errorf("open sqlite database %s: %w", p, err)
		}
		// One connection: every step is BEGIN IMMEDIATE on it, and no two
		// connections of this process contend for the write lock.
		db.SetMaxOpenConns(1)
		if err := db.PingContext(ctx); err != nil {
			return nil, errors.Join(fmt.Errorf("open sqlite database %s: %w", p, err), db.Close())
		}
		return &DB{sql: db, dialect: SQLite, path: abs}, nil
	}
	scheme, _, _ := strings.Cut(rawURL, ":")
	return nil, fmt.Errorf("open database: unsupported URL scheme %q: want postgres://…, postgresql://… or sqlite:path", scheme)
}

// Dialect is the kind of database.
func (db *DB) Dialect() Dialect { return db.dialect }

// SQL is the underlying pool, for callers that query the application's
// tables (tests, the example app).
func (db *DB) SQL() *sql.DB { return db.sql }

// Close closes the pool.
func (db *DB) Close() error {
	if err := db.sql.Close(); err != nil {
		return fmt.Errorf("close %s database: %w", db.dialect, err)
	}
	return nil
}

// rebind turns ? placeholders into $1, $2… on PostgreSQL. The queries it
// is used on are the engine's own and hold no ? in literals.
func (db *DB) rebind(q string) string {
	if db.dialect != Postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// quoteIdent quotes a (possibly schema-qualified) identifier.
func quoteIdent(parts ...string) string {
	q := make([]string, len(parts))
	for i, p := range parts {
		q[i] = `"` + strings.ReplaceAll(p, `"`, `""`) + `"`
	}
	return strings.Join(q, ".")
}

// quoteLiteral quotes a string literal.
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
