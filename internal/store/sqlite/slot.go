package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// LoadSlots returns what app's slots run, ordered by slot name; slots never
// saved are absent.
func (s *Store) LoadSlots(ctx context.Context, app string) (slots []store.SlotState, err error) {
	rows, err := s.r.QueryContext(ctx, `
SELECT slot, version, state, instances, stop_at, stopping_since, updated_at
FROM bluegreen_slots WHERE app = ? ORDER BY slot`, app)
	if err != nil {
		return nil, fmt.Errorf("load slots of %s: %w", app, err)
	}
	defer func() {
		if cerr := rows.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("load slots of %s: %w", app, cerr)
		}
	}()
	for rows.Next() {
		var (
			sl                          store.SlotState
			instances, stopAt, stopping sql.NullString
			updated                     sql.NullString
		)
		if err := rows.Scan(&sl.Slot, &sl.Version, &sl.State, &instances, &stopAt, &stopping, &updated); err != nil {
			return nil, fmt.Errorf("load slots of %s: %w", app, err)
		}
		sl.Instances = rawJSON(instances)
		if sl.StopAt, err = parseTime(stopAt); err != nil {
			return nil, fmt.Errorf("load slot %s of %s: %w", sl.Slot, app, err)
		}
		if sl.StoppingSince, err = parseTime(stopping); err != nil {
			return nil, fmt.Errorf("load slot %s of %s: %w", sl.Slot, app, err)
		}
		if sl.UpdatedAt, err = parseTime(updated); err != nil {
			return nil, fmt.Errorf("load slot %s of %s: %w", sl.Slot, app, err)
		}
		slots = append(slots, sl)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load slots of %s: %w", app, err)
	}
	return slots, nil
}

// SaveSlot stores what one of app's slots runs (upsert by app and slot) and
// stamps it with the write time.
func (s *Store) SaveSlot(ctx context.Context, app string, sl store.SlotState) error {
	instances, err := jsonArg("instances", sl.Instances)
	if err != nil {
		return fmt.Errorf("save slot %s of %s: %w", sl.Slot, app, err)
	}
	_, err = s.w.ExecContext(ctx, `
INSERT INTO bluegreen_slots (app, slot, version, state, instances, stop_at, stopping_since, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (app, slot) DO UPDATE SET
	version = excluded.version, state = excluded.state, instances = excluded.instances,
	stop_at = excluded.stop_at, stopping_since = excluded.stopping_since, updated_at = excluded.updated_at`,
		app, sl.Slot, sl.Version, sl.State, instances, timeArg(sl.StopAt), timeArg(sl.StoppingSince), formatTime(now()))
	if err != nil {
		return fmt.Errorf("save slot %s of %s: %w", sl.Slot, app, err)
	}
	return nil
}
