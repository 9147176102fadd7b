package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

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
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: begin: %w", op, err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, rollback(tx))
		}
	}()
	res, err := tx.ExecContext(ctx, `
INSERT INTO bluegreen_audit (app, time, actor, action, args, result, remote) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		e.App, formatTime(when), e.Actor, e.Action, args, e.Result, e.Remote)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("%s: read its id: %w", op, err)
	}
	if _, err := tx.ExecContext(ctx, `
DELETE FROM bluegreen_audit WHERE app = ? AND id <= (
	SELECT id FROM bluegreen_audit WHERE app = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`,
		e.App, e.App, store.AuditKeep); err != nil {
		return fmt.Errorf("%s: prune: %w", op, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: commit: %w", op, err)
	}
	e.ID, e.Time = id, when.UTC().Truncate(time.Microsecond)
	return nil
}

// ListAudit returns the app's newest audit entries first, at most limit.
func (s *Store) ListAudit(ctx context.Context, app string, limit int) (out []store.AuditEntry, err error) {
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.r.QueryContext(ctx, `
SELECT id, app, time, actor, action, args, result, remote FROM bluegreen_audit
WHERE app = ? ORDER BY id DESC LIMIT ?`, app, limit)
	if err != nil {
		return nil, fmt.Errorf("list audit of %s: %w", app, err)
	}
	defer func() {
		if cerr := rows.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("list audit of %s: %w", app, cerr)
		}
	}()
	for rows.Next() {
		var (
			e          store.AuditEntry
			when, args sql.NullString
		)
		if err := rows.Scan(&e.ID, &e.App, &when, &e.Actor, &e.Action, &args, &e.Result, &e.Remote); err != nil {
			return nil, fmt.Errorf("list audit of %s: %w", app, err)
		}
		if e.Time, err = parseTime(when); err != nil {
			return nil, fmt.Errorf("list audit of %s: entry %d: %w", app, e.ID, err)
		}
		e.Args = rawJSON(args)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit of %s: %w", app, err)
	}
	return out, nil
}

// SaveAdminSession upserts one dashboard session.
func (s *Store) SaveAdminSession(ctx context.Context, app string, a store.AdminSession) error {
	_, err := s.w.ExecContext(ctx, `
INSERT INTO bluegreen_admin_sessions (app, key, csrf, created, expires) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (app, key) DO UPDATE SET csrf = excluded.csrf, created = excluded.created, expires = excluded.expires`,
		app, a.Key, a.CSRF, formatTime(a.Created), formatTime(a.Expires))
	if err != nil {
		return fmt.Errorf("save admin session of %s: %w", app, err)
	}
	return nil
}

// DeleteAdminSession removes one dashboard session.
func (s *Store) DeleteAdminSession(ctx context.Context, app, key string) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM bluegreen_admin_sessions WHERE app = ? AND key = ?`, app, key); err != nil {
		return fmt.Errorf("delete admin session of %s: %w", app, err)
	}
	return nil
}

// LoadAdminSessions deletes the app's sessions expired at now and returns
// the others, oldest login first.
func (s *Store) LoadAdminSessions(ctx context.Context, app string, at time.Time) (out []store.AdminSession, err error) {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM bluegreen_admin_sessions WHERE app = ? AND expires <= ?`, app, formatTime(at)); err != nil {
		return nil, fmt.Errorf("prune admin sessions of %s: %w", app, err)
	}
	rows, err := s.r.QueryContext(ctx, `
SELECT key, csrf, created, expires FROM bluegreen_admin_sessions
WHERE app = ? AND expires > ? ORDER BY created, key`, app, formatTime(at))
	if err != nil {
		return nil, fmt.Errorf("load admin sessions of %s: %w", app, err)
	}
	defer func() {
		if cerr := rows.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("load admin sessions of %s: %w", app, cerr)
		}
	}()
	for rows.Next() {
		var (
			a                store.AdminSession
			created, expires sql.NullString
		)
		if err := rows.Scan(&a.Key, &a.CSRF, &created, &expires); err != nil {
			return nil, fmt.Errorf("load admin sessions of %s: %w", app, err)
		}
		if a.Created, err = parseTime(created); err != nil {
			return nil, fmt.Errorf("load admin sessions of %s: %w", app, err)
		}
		if a.Expires, err = parseTime(expires); err != nil {
			return nil, fmt.Errorf("load admin sessions of %s: %w", app, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load admin sessions of %s: %w", app, err)
	}
	return out, nil
}
