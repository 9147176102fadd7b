package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// SaveMCPSessions upserts app's session pins in one transaction.
func (s *Store) SaveMCPSessions(ctx context.Context, app string, pins []store.MCPSession) (err error) {
	if len(pins) == 0 {
		return nil
	}
	op := fmt.Sprintf("save %d mcp sessions of %s", len(pins), app)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: begin: %w", op, err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, rollback(tx))
		}
	}()
	stmt, err := tx.PrepareContext(ctx, `
INSERT INTO bluegreen_mcp_sessions (app, id, slot, instance, last_used) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (app, id) DO UPDATE SET
	slot = excluded.slot, instance = excluded.instance, last_used = excluded.last_used`)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer func() {
		if cerr := stmt.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("%s: %w", op, cerr)
		}
	}()
	for _, p := range pins {
		if _, err := stmt.ExecContext(ctx, app, p.ID, p.Slot, p.Instance, formatTime(p.LastUsed)); err != nil {
			return fmt.Errorf("%s: session %q: %w", op, p.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: commit: %w", op, err)
	}
	return nil
}

// DeleteMCPSessions removes app's pins with these ids in one transaction.
func (s *Store) DeleteMCPSessions(ctx context.Context, app string, ids []string) (err error) {
	if len(ids) == 0 {
		return nil
	}
	op := fmt.Sprintf("delete %d mcp sessions of %s", len(ids), app)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: begin: %w", op, err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, rollback(tx))
		}
	}()
	stmt, err := tx.PrepareContext(ctx, `DELETE FROM bluegreen_mcp_sessions WHERE app = ? AND id = ?`)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer func() {
		if cerr := stmt.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("%s: %w", op, cerr)
		}
	}()
	for _, id := range ids {
		if _, err := stmt.ExecContext(ctx, app, id); err != nil {
			return fmt.Errorf("%s: session %q: %w", op, id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: commit: %w", op, err)
	}
	return nil
}

// LoadMCPSessions returns app's pins, most recently used first.
func (s *Store) LoadMCPSessions(ctx context.Context, app string) (pins []store.MCPSession, err error) {
	rows, err := s.r.QueryContext(ctx, `
SELECT id, slot, instance, last_used FROM bluegreen_mcp_sessions
WHERE app = ? ORDER BY last_used DESC, id`, app)
	if err != nil {
		return nil, fmt.Errorf("load mcp sessions of %s: %w", app, err)
	}
	defer func() {
		if cerr := rows.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("load mcp sessions of %s: %w", app, cerr)
		}
	}()
	for rows.Next() {
		var (
			p    store.MCPSession
			used sql.NullString
		)
		if err := rows.Scan(&p.ID, &p.Slot, &p.Instance, &used); err != nil {
			return nil, fmt.Errorf("load mcp sessions of %s: %w", app, err)
		}
		if p.LastUsed, err = parseTime(used); err != nil {
			return nil, fmt.Errorf("load mcp session %q of %s: %w", p.ID, app, err)
		}
		pins = append(pins, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load mcp sessions of %s: %w", app, err)
	}
	return pins, nil
}
