package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// insertEvent appends ev to deployment id's log inside tx; the zero Event
// appends nothing. data is ev.Data already checked by jsonArg. A zero
// ev.Time becomes at, the write time.
func insertEvent(ctx context.Context, tx pgx.Tx, id int64, ev *store.Event, data any, at time.Time) (int64, error) {
	if ev.IsZero() {
		return 0, nil
	}
	when := ev.Time
	if when.IsZero() {
		when = at
	}
	var evID int64
	err := tx.QueryRow(ctx,
		`INSERT INTO bluegreen_events (deployment_id, time, phase, reason, data) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
		id, when, ev.Phase, ev.Reason, data).Scan(&evID)
	if err != nil {
		return 0, fmt.Errorf("append event %s: %w", ev.Phase, err)
	}
	return evID, nil
}

// Events returns deployment id's events, oldest (first written) first; an
// unknown deployment has none.
func (s *Store) Events(ctx context.Context, id int64) ([]store.Event, error) {
	rows, err := s.pool.Query(ctx, `
SELECT id, deployment_id, time, phase, reason, data
FROM bluegreen_events WHERE deployment_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("list events of deployment %d: %w", id, err)
	}
	defer rows.Close()
	var evs []store.Event
	for rows.Next() {
		var (
			ev   store.Event
			data []byte
		)
		if err := rows.Scan(&ev.ID, &ev.DeploymentID, &ev.Time, &ev.Phase, &ev.Reason, &data); err != nil {
			return nil, fmt.Errorf("list events of deployment %d: %w", id, err)
		}
		ev.Time = ev.Time.UTC()
		ev.Data = rawJSON(data)
		evs = append(evs, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list events of deployment %d: %w", id, err)
	}
	return evs, nil
}

// eventData is ev's data, or nil for no event.
func eventData(ev *store.Event) json.RawMessage {
	if ev == nil {
		return nil
	}
	return ev.Data
}
