package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// LoadSlots returns what app's slots run, ordered by slot name; slots never
// saved are absent.
func (s *Store) LoadSlots(ctx context.Context, app string) ([]store.SlotState, error) {
	rows, err := s.pool.Query(ctx, `
SELECT slot, version, state, instances, stop_at, stopping_since, updated_at
FROM bluegreen_slots WHERE app = $1 ORDER BY slot`, app)
	if err != nil {
		return nil, fmt.Errorf("load slots of %s: %w", app, err)
	}
	defer rows.Close()
	var slots []store.SlotState
	for rows.Next() {
		var (
			sl        store.SlotState
			instances []byte
			stopAt    pgtype.Timestamptz
			stopping  pgtype.Timestamptz
		)
		if err := rows.Scan(&sl.Slot, &sl.Version, &sl.State, &instances, &stopAt, &stopping, &sl.UpdatedAt); err != nil {
			return nil, fmt.Errorf("load slots of %s: %w", app, err)
		}
		sl.Instances = rawJSON(instances)
		sl.StopAt = fromTimestamptz(stopAt)
		sl.StoppingSince = fromTimestamptz(stopping)
		sl.UpdatedAt = sl.UpdatedAt.UTC()
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
	return s.saveSlot(ctx, app, sl, nil)
}

func (s *Store) saveSlot(ctx context.Context, app string, sl store.SlotState, guard guard) error {
	instances, err := jsonArg("instances", sl.Instances)
	if err != nil {
		return fmt.Errorf("save slot %s of %s: %w", sl.Slot, app, err)
	}
	err = inTx(ctx, s.pool, func(tx pgx.Tx) error {
		if err := guard.check(ctx, tx); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
INSERT INTO bluegreen_slots (app, slot, version, state, instances, stop_at, stopping_since, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (app, slot) DO UPDATE SET
	version = excluded.version, state = excluded.state, instances = excluded.instances,
	stop_at = excluded.stop_at, stopping_since = excluded.stopping_since, updated_at = excluded.updated_at`,
			app, sl.Slot, sl.Version, sl.State, instances, timeArg(sl.StopAt), timeArg(sl.StoppingSince), now())
		return err
	})
	if err != nil {
		return fmt.Errorf("save slot %s of %s: %w", sl.Slot, app, err)
	}
	return nil
}
