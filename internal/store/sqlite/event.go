package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// insertEvent appends ev to deployment id's log inside tx; the zero Event
// appends nothing. data is ev.Data already checked by jsonArg. A zero
// ev.Time becomes at, the write time.
func insertEvent(ctx context.Context, tx *sql.Tx, id int64, ev *store.Event, data any, at time.Time) (int64, error) {
	if ev.IsZero() {
		return 0, nil
	}
	when := ev.Time
	if when.IsZero() {
		when = at
	}
	res, err := tx.ExecContext(ctx,
		`INSERT INTO bluegreen_events (deployment_id, time, phase, reason, data) VALUES (?, ?, ?, ?, ?)`,
		id, formatTime(when), ev.Phase, ev.Reason, data)
	if err != nil {
		return 0, fmt.Errorf("append event %s: %w", ev.Phase, err)
	}
	evID, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("append event %s: read its id: %w", ev.Phase, err)
	}
	return evID, nil
}

// Events returns deployment id's events, oldest (first written) first; an
// unknown deployment has none.
func (s *Store) Events(ctx context.Context, id int64) (evs []store.Event, err error) {
	rows, err := s.r.QueryContext(ctx, `
SELECT id, deployment_id, time, phase, reason, data
FROM bluegreen_events WHERE deployment_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("list events of deployment %d: %w", id, err)
	}
	defer func() {
		if cerr := rows.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("list events of deployment %d: %w", id, cerr)
		}
	}()
	for rows.Next() {
		var (
			ev         store.Event
			when, data sql.NullString
		)
		if err := rows.Scan(&ev.ID, &ev.DeploymentID, &when, &ev.Phase, &ev.Reason, &data); err != nil {
			return nil, fmt.Errorf("list events of deployment %d: %w", id, err)
		}
		if ev.Time, err = parseTime(when); err != nil {
			return nil, fmt.Errorf("list events of deployment %d: %w", id, err)
		}
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
