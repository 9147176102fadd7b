package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"

	sqlite "modernc.org/sqlite" // also registers the "sqlite" driver

	"github.com/bluegreen-dev/bluegreen/internal/store"
)

var _ store.Store = (*Store)(nil)

// busyTimeoutMillis is how long a write waits for another process's write
// transaction before failing with SQLITE_BUSY.
const busyTimeoutMillis = 10_000

// readConns is the size of the read-only connection pool.
const readConns = 4

// Store is a store.Store on one SQLite file. It is safe for concurrent use.
type Store struct {
	path string
	w    *sql.DB // exactly one connection: the only writer in this process
	r    *sql.DB // read-only connections

	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating if needed) the SQLite database at path and brings
// its schema up to date. The parent directory is created with mode 0700 and
// a new file with mode 0600. It fails if the file was written by a newer
// bluegreen whose schema this binary does not know.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("open sqlite store: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("open sqlite store %s: create directory: %w", path, err)
	}
	if err := createFile(abs); err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}

	s := &Store{path: path}
	s.w, err = sql.Open("sqlite", dsn(abs, false))
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxIdleTime(0)
	s.w.SetConnMaxLifetime(0)
	// The writer connection switches the file to WAL before any reader
	// connects, and the schema exists before any reader queries it.
	if err := migrate(ctx, s.w); err != nil {
		return nil, errors.Join(damaged(path, err), s.w.Close())
	}
	if err := quickCheck(ctx, s.w); err != nil {
		return nil, errors.Join(damaged(path, err), s.w.Close())
	}
	s.r, err = sql.Open("sqlite", dsn(abs, true))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open sqlite store %s: %w", path, err), s.w.Close())
	}
	s.r.SetMaxOpenConns(readConns)
	s.r.SetMaxIdleConns(readConns)
	if err := s.r.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("open sqlite store %s: %w", path, err), s.Close())
	}
	return s, nil
}

// createFile creates path with mode 0600 if it does not exist, so the WAL
// and shared-memory files SQLite derives from it get the same mode.
func createFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create database file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("create database file: %w", err)
	}
	return nil
}

// dsn is the modernc.org/sqlite connection string for the file at the
// absolute path abs. A file: URI escapes any '?' or '#' in the path.
func dsn(abs string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeoutMillis))
	q.Add("_pragma", "foreign_keys(1)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(FULL)")
		q.Set("_txlock", "immediate")
	}
	u := url.URL{Scheme: "file", Path: abs, RawQuery: q.Encode()}
	return u.String()
}

// Close closes both connection pools. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.r != nil {
			errs = append(errs, s.r.Close())
		}
		errs = append(errs, s.w.Close())
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("close sqlite store %s: %w", s.path, err)
		}
	})
	return s.closeErr
}

// SchemaVersion returns the schema version recorded in the database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	v, err := schemaVersion(ctx, s.r)
	if err != nil {
		return 0, fmt.Errorf("read schema version of %s: %w", s.path, err)
	}
	return v, nil
}

// quickCheck runs SQLite's quick integrity check (the state file is small:
// milliseconds) so that a damaged file is refused at start, not found half
// way through a deployment.
func quickCheck(ctx context.Context, db *sql.DB) error {
	var res string
	if err := db.QueryRowContext(ctx, "PRAGMA quick_check(1)").Scan(&res); err != nil {
		return err
	}
	if res != "ok" {
		return fmt.Errorf("%w: %s", errDamaged, res)
	}
	return nil
}

// errDamaged marks a state file that failed SQLite's integrity check.
var errDamaged = errors.New("database disk image is malformed")

// damaged is the error of Open: for a file that is not an SQLite database
// or is damaged, it says so and what to do, never resetting the state.
func damaged(path string, err error) error {
	var se *sqlite.Error
	code := 0
	if errors.As(err, &se) {
		code = se.Code() & 0xff
	}
	const sqliteCorrupt, sqliteNotADB = 11, 26
	if code == sqliteCorrupt || code == sqliteNotADB || errors.Is(err, errDamaged) {
		return fmt.Errorf("open sqlite store %s: the state file is damaged or not a bluegreen state file (%w); bluegreen does not reset it: restore it from a backup, "+
			"or move it aside to start with no state (serve then has no deployment history and routes nothing until the next deploy or route)", path, err)
	}
	return fmt.Errorf("open sqlite store %s: %w", path, err)
}
