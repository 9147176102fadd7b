package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// sqlstateLockTimeout is PostgreSQL's lock_not_available.
const sqlstateLockTimeout = "55P03"

// Blocker is a session that held a lock a migration statement waited for.
type Blocker struct {
	PID         int64  `json:"pid"`
	Application string `json:"application"`
	State       string `json:"state"`
	Query       string `json:"query"`
}

func (b Blocker) String() string {
	q := strings.Join(strings.Fields(b.Query), " ")
	if len(q) > 120 {
		q = q[:117] + "..."
	}
	return fmt.Sprintf("pid %d (application %q, %s: %q)", b.PID, b.Application, b.State, q)
}

// blockedError is a lock timeout with the sessions seen blocking it.
type blockedError struct {
	err      error
	blockers []Blocker
}

func (e *blockedError) Error() string { return e.err.Error() }
func (e *blockedError) Unwrap() error { return e.err }

// isLockTimeout reports a PostgreSQL lock_timeout (SQLSTATE 55P03).
func isLockTimeout(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == sqlstateLockTimeout
}

// blocked wraps a lock timeout with the blockers the watch saw.
func blocked(err error, blockers []Blocker) error {
	if err == nil || !isLockTimeout(err) {
		return err
	}
	return &blockedError{err: err, blockers: blockers}
}

// withLockRetry runs attempt until it succeeds, fails with anything but a
// lock timeout, or has hit the lock timeout Options.LockRetries times.
// Between attempts it waits an exponential backoff with jitter and reports
// who blocked it.
func (e *Engine) withLockRetry(ctx context.Context, migration string, op Op, what string, attempt func(context.Context) error) error {
	for n := 1; ; n++ {
		err := attempt(ctx)
		var be *blockedError
		if err == nil || !errors.As(err, &be) {
			return err
		}
		if n >= e.opts.LockRetries {
			return fmt.Errorf("lock_timeout %s hit %d times, giving up (blocked by %s): %w", e.opts.LockTimeout, n, describeBlockers(be.blockers), err)
		}
		wait := min(e.opts.RetryBase<<min(n-1, 16), e.opts.RetryMax)
		wait = wait/2 + rand.N(wait/2+1) // jitter: [wait/2, wait]
		e.emit(ctx, Event{Migration: migration, Op: op, Kind: EventLockTimeout, Attempt: n, Blockers: be.blockers,
			Message: fmt.Sprintf("%s: lock_timeout %s hit; blocked by %s; retry %d in %s", what, e.opts.LockTimeout, describeBlockers(be.blockers), n+1, wait.Round(time.Millisecond))})
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}

func describeBlockers(bs []Blocker) string {
	if len(bs) == 0 {
		return "a session that had finished before it could be identified"
	}
	s := make([]string, len(bs))
	for i, b := range bs {
		s[i] = b.String()
	}
	return strings.Join(s, ", ")
}

// watch notes which sessions block one backend while a statement runs.
type watch struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	seen   []Blocker
}

// stop ends the watch and returns the last blockers it saw.
func (w *watch) stop() []Blocker {
	if w == nil {
		return nil
	}
	w.cancel()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seen
}

// watchBlockers polls pg_blocking_pids(pid) on another connection until
// stopped. pg_blocking_pids only answers while the backend waits, so the
// blockers are caught during the wait, not after the timeout.
func (e *Engine) watchBlockers(ctx context.Context, pid int64) *watch {
	ctx, cancel := context.WithCancel(ctx)
	w := &watch{cancel: cancel, done: make(chan struct{})}
	every := min(max(e.opts.LockTimeout/4, 10*time.Millisecond), 250*time.Millisecond)
	go func() {
		defer close(w.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			bs, err := blockersOf(ctx, e.db.sql, pid)
			if err != nil || len(bs) == 0 {
				continue
			}
			w.mu.Lock()
			w.seen = bs
			w.mu.Unlock()
		}
	}()
	return w
}

func blockersOf(ctx context.Context, db *sql.DB, pid int64) ([]Blocker, error) {
	rows, err := db.QueryContext(ctx, `SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.state, ''), coalesce(a.query, '')
		FROM pg_stat_activity a WHERE a.pid = ANY(pg_blocking_pids($1)) ORDER BY a.pid`, pid)
	if err != nil {
		return nil, err
	}
	defer rows.Close() //nolint:errcheck // rows.Err is checked below
	var out []Blocker
	for rows.Next() {
		var b Blocker
		if err := rows.Scan(&b.PID, &b.Application, &b.State, &b.Query); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// prepareTx sets the lock timeout for a step's transaction and starts the
// blocker watch; on SQLite it does nothing (busy_timeout applies).
// lockedTx runs exec in a new transaction with the lock timeout
// (prepareTx): a lock timeout in it comes back as a blockedError naming
// who blocked it. Then after (when not nil) runs in the same transaction,
// with no lock watch, and the transaction commits.
func (e *Engine) lockedTx(ctx context.Context, exec, after func(*sql.Tx) error) error {
	tx, err := e.db.sql.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	w, err := e.prepareTx(ctx, tx)
	if err != nil {
		return err
	}
	if err := blocked(exec(tx), w.stop()); err != nil {
		return err
	}
	if after != nil {
		if err := after(tx); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (e *Engine) prepareTx(ctx context.Context, q querier) (*watch, error) {
	if e.db.dialect != Postgres {
		return nil, nil
	}
	if _, err := q.ExecContext(ctx, fmt.Sprintf("SET LOCAL lock_timeout = '%dms'", e.opts.LockTimeout.Milliseconds())); err != nil {
		return nil, fmt.Errorf("set lock_timeout: %w", err)
	}
	var pid int64
	if err := q.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		return nil, fmt.Errorf("read backend pid: %w", err)
	}
	return e.watchBlockers(ctx, pid), nil
}
