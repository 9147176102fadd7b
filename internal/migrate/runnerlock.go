package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// advisoryKey is the PostgreSQL advisory lock key of the runner ('bgmg').
// It fits in 32 bits, so pg_locks shows it as classid 0, objid advisoryKey.
const advisoryKey = 0x62676d67

// runnerPoll is how often a waiting runner tries the lock again.
const runnerPoll = 250 * time.Millisecond

// ErrRunnerBusy: another runner held the lock for longer than
// Options.RunnerWait.
var ErrRunnerBusy = errors.New("another migration runner holds the lock")

// unlocker releases the runner lock.
type unlocker func() error

// lockRunner takes the one-runner-at-a-time lock: a session advisory lock
// on PostgreSQL (released by the server if this process dies), an
// exclusive lock on the file <db>-migrate.lock on SQLite (released by the
// kernel if this process dies). A runner that finds it taken says so once
// on opts.Out, naming the holder when it can, and gives up with
// ErrRunnerBusy after opts.RunnerWait.
func (e *Engine) lockRunner(ctx context.Context) (unlocker, error) {
	deadline := e.opts.Now().Add(e.opts.RunnerWait)
	said := false
	wait := func(holder string) error {
		if !said {
			e.say("waiting for the migration runner lock%s (up to %s)", holder, e.opts.RunnerWait)
			said = true
		}
		if !e.opts.Now().Before(deadline) {
			return fmt.Errorf("take migration runner lock: %w%s after waiting %s", ErrRunnerBusy, holder, e.opts.RunnerWait)
		}
		return sleep(ctx, runnerPoll)
	}
	switch e.db.dialect {
	case Postgres:
		conn, err := e.db.sql.Conn(ctx)
		if err != nil {
			return nil, fmt.Errorf("take migration runner lock: %w", err)
		}
		for {
			var ok bool
			if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, int64(advisoryKey)).Scan(&ok); err != nil {
				return nil, errors.Join(fmt.Errorf("take migration runner lock: %w", err), conn.Close())
			}
			if ok {
				return func() error {
					// A background context: the lock must be released even
					// when the run was cancelled.
					_, uerr := conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1)`, int64(advisoryKey))
					return errors.Join(uerr, conn.Close())
				}, nil
			}
			if err := wait(advisoryHolder(ctx, conn)); err != nil {
				return nil, errors.Join(err, conn.Close())
			}
		}
	case SQLite:
		path := e.db.path + "-migrate.lock"
		for {
			release, ok, err := tryLockFile(path)
			if err != nil {
				return nil, fmt.Errorf("take migration runner lock %s: %w", path, err)
			}
			if ok {
				return release, nil
			}
			if err := wait(" on " + path); err != nil {
				return nil, err
			}
		}
	}
	return nil, fmt.Errorf("take migration runner lock: unknown dialect %q", e.db.dialect)
}

// advisoryHolder describes the session holding the runner lock, or "".
func advisoryHolder(ctx context.Context, conn *sql.Conn) string {
	var (
		pid         int64
		app, client string
	)
	err := conn.QueryRowContext(ctx, `SELECT a.pid, a.application_name, coalesce(host(a.client_addr), 'local')
		FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.classid = 0 AND l.objid = $1 AND l.granted LIMIT 1`, int64(advisoryKey)).Scan(&pid, &app, &client)
	if err != nil {
		return ""
	}
	return fmt.Sprintf(" held by pid %d (application %q, from %s)", pid, app, client)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
