package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// AppendAudit stores e and prunes the app's entries beyond the newest
// store.AuditKeep, in one transaction.
func (s *Store) AppendAudit(ctx context.Context, e *store.AuditEntry) (err error) {
	op := fmt.Sprintf("append audit %s of %s", e.Action, e.App)
	args, err := jsonArg("args", e.Args)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	when := e.Time
	if when.IsZero() {
		when = now()
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("%s: begin: %w", op, err)
	}
	defer func() {
		if err != nil {
			if rerr := tx.Rollback(context.WithoutCancel(ctx)); rerr != nil && !errors.Is(rerr, pgx.ErrTxClosed) {
				err = errors.Join(err, fmt.Errorf("rollback: %w", rerr))
			}
		}
	}()
	var id int64
	if err := tx.QueryRow(ctx, `
INSERT INTO bluegreen_audit (app, time, actor, action, args, result, remote) VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING id`, e.App, when.UTC(), e.Actor, e.Action, args, e.Result, e.Remote).Scan(&id); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if _, err := tx.Exec(ctx, `
DELETE FROM bluegreen_audit WHERE app = $1 AND id <= (
	SELECT id FROM bluegreen_audit WHERE app = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)`,
		e.App, store.AuditKeep); err != nil {
		return fmt.Errorf("%s: prune: %w", op, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("%s: commit: %w", op, err)
	}
	e.ID, e.Time = id, when.UTC().Truncate(time.Microsecond)
	return nil
}

// ListAudit returns the app's newest audit entries first, at most limit.
func (s *Store) ListAudit(ctx context.Context, app string, limit int) ([]store.AuditEntry, error) {
	var lim any // NULL: no limit
	if limit > 0 {
		lim = limit
	}
	rows, err := s.pool.Query(ctx, `
SELECT id, app, time, actor, action, args, result, remote FROM bluegreen_audit
WHERE app = $1 ORDER BY id DESC LIMIT $2`, app, lim)
	if err != nil {
		return nil, fmt.Errorf("list audit of %s: %w", app, err)
	}
	defer rows.Close()
	var out []store.AuditEntry
	for rows.Next() {
		var (
			e    store.AuditEntry
			when pgtype.Timestamptz
			args []byte
		)
		if err := rows.Scan(&e.ID, &e.App, &when, &e.Actor, &e.Action, &args, &e.Result, &e.Remote); err != nil {
			return nil, fmt.Errorf("list audit of %s: %w", app, err)
		}
		e.Time, e.Args = fromTimestamptz(when), rawJSON(args)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit of %s: %w", app, err)
	}
	return out, nil
}

// SaveAdminSession upserts one dashboard session.
func (s *Store) SaveAdminSession(ctx context.Context, app string, a store.AdminSession) error {
	_, err := s.pool.Exec(ctx, `
INSERT INTO bluegreen_admin_sessions (app, key, csrf, created, expires) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (app, key) DO UPDATE SET csrf = excluded.csrf, created = excluded.created, expires = excluded.expires`,
		app, a.Key, a.CSRF, a.Created.UTC(), a.Expires.UTC())
	if err != nil {
		return fmt.Errorf("save admin session of %s: %w", app, err)
	}
	return nil
}

// DeleteAdminSession removes one dashboard session.
func (s *Store) DeleteAdminSession(ctx context.Context, app, key string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM bluegreen_admin_sessions WHERE app = $1 AND key = $2`, app, key); err != nil {
		return fmt.Errorf("delete admin session of %s: %w", app, err)
	}
	return nil
}

// LoadAdminSessions deletes the app's sessions expired at now and returns
// the others, oldest login first.
func (s *Store) LoadAdminSessions(ctx context.Context, app string, at time.Time) ([]store.AdminSession, error) {
	if _, err := s.pool.Exec(ctx, `DELETE FROM bluegreen_admin_sessions WHERE app = $1 AND expires <= $2`, app, at.UTC()); err != nil {
		return nil, fmt.Errorf("prune admin sessions of %s: %w", app, err)
	}
	rows, err := s.pool.Query(ctx, `
SELECT key, csrf, created, expires FROM bluegreen_admin_sessions
WHERE app = $1 AND expires > $2 ORDER BY created, key`, app, at.UTC())
	if err != nil {
		return nil, fmt.Errorf("load admin sessions of %s: %w", app, err)
	}
	defer rows.Close()
	var out []store.AdminSession
	for rows.Next() {
		var (
			a                store.AdminSession
			created, expires pgtype.Timestamptz
		)
		if err := rows.Scan(&a.Key, &a.CSRF, &created, &expires); err != nil {
			return nil, fmt.Errorf("load admin sessions of %s: %w", app, err)
		}
		a.Created, a.Expires = fromTimestamptz(created), fromTimestamptz(expires)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load admin sessions of %s: %w", app, err)
	}
	return out, nil
}
