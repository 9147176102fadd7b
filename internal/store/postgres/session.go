package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// SaveMCPSessions upserts app's session pins in one statement (arrays
// unnested), which is one transaction.
func (s *Store) SaveMCPSessions(ctx context.Context, app string, pins []store.MCPSession) error {
	if len(pins) == 0 {
		return nil
	}
	ids := make([]string, len(pins))
	slots := make([]string, len(pins))
	instances := make([]string, len(pins))
	used := make([]time.Time, len(pins))
	for i, p := range pins {
		ids[i], slots[i], instances[i], used[i] = p.ID, string(p.Slot), p.Instance, p.LastUsed.UTC()
	}
	// A batch naming one id twice would make ON CONFLICT touch a row twice
	// (an error); the last value of an id wins, as it would one by one.
	_, err := s.pool.Exec(ctx, `
INSERT INTO bluegreen_mcp_sessions (app, id, slot, instance, last_used)
SELECT DISTINCT ON (id) $1, id, slot, instance, last_used
FROM unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[]) WITH ORDINALITY AS p(id, slot, instance, last_used, n)
ORDER BY id, n DESC
ON CONFLICT (app, id) DO UPDATE SET
	slot = excluded.slot, instance = excluded.instance, last_used = excluded.last_used`,
		app, ids, slots, instances, used)
	if err != nil {
		return fmt.Errorf("save %d mcp sessions of %s: %w", len(pins), app, err)
	}
	return nil
}

// DeleteMCPSessions removes app's pins with these ids in one statement.
func (s *Store) DeleteMCPSessions(ctx context.Context, app string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := s.pool.Exec(ctx, `DELETE FROM bluegreen_mcp_sessions WHERE app = $1 AND id = ANY($2::text[])`, app, ids)
	if err != nil {
		return fmt.Errorf("delete %d mcp sessions of %s: %w", len(ids), app, err)
	}
	return nil
}

// LoadMCPSessions returns app's pins, most recently used first.
func (s *Store) LoadMCPSessions(ctx context.Context, app string) ([]store.MCPSession, error) {
	rows, err := s.pool.Query(ctx, `
SELECT id, slot, instance, last_used FROM bluegreen_mcp_sessions
WHERE app = $1 ORDER BY last_used DESC, id`, app)
	if err != nil {
		return nil, fmt.Errorf("load mcp sessions of %s: %w", app, err)
	}
	defer rows.Close()
	var pins []store.MCPSession
	for rows.Next() {
		var p store.MCPSession
		if err := rows.Scan(&p.ID, &p.Slot, &p.Instance, &p.LastUsed); err != nil {
			return nil, fmt.Errorf("load mcp sessions of %s: %w", app, err)
		}
		p.LastUsed = p.LastUsed.UTC()
		pins = append(pins, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load mcp sessions of %s: %w", app, err)
	}
	return pins, nil
}

// LoadMCPSessionsSince returns app's pins used at or after since, most
// recently used first, at most limit: what the other routers sharing the
// database pinned or used lately.
func (s *Store) LoadMCPSessionsSince(ctx context.Context, app string, since time.Time, limit int) ([]store.MCPSession, error) {
	rows, err := s.pool.Query(ctx, `
SELECT id, slot, instance, last_used FROM bluegreen_mcp_sessions
WHERE app = $1 AND last_used >= $2 ORDER BY last_used DESC, id LIMIT $3`, app, since.UTC(), limit)
	if err != nil {
		return nil, fmt.Errorf("load recent mcp sessions of %s: %w", app, err)
	}
	defer rows.Close()
	var pins []store.MCPSession
	for rows.Next() {
		var p store.MCPSession
		if err := rows.Scan(&p.ID, &p.Slot, &p.Instance, &p.LastUsed); err != nil {
			return nil, fmt.Errorf("load recent mcp sessions of %s: %w", app, err)
		}
		p.LastUsed = p.LastUsed.UTC()
		pins = append(pins, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load recent mcp sessions of %s: %w", app, err)
	}
	return pins, nil
}
