package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// LoadRoute returns app's stored route table, or store.ErrNotFound.
func (s *Store) LoadRoute(ctx context.Context, app string) (store.Route, error) {
	var (
		r       store.Route
		weights string
		updated sql.NullString
	)
	err := s.r.QueryRowContext(ctx,
		`SELECT live, weights, rev, updated_at FROM bluegreen_routes WHERE app = ?`, app,
	).Scan(&r.Live, &weights, &r.Rev, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Route{}, fmt.Errorf("load route of %s: %w", app, store.ErrNotFound)
	}
	if err != nil {
		return store.Route{}, fmt.Errorf("load route of %s: %w", app, err)
	}
	if err := json.Unmarshal([]byte(weights), &r.Weights); err != nil {
		return store.Route{}, fmt.Errorf("load route of %s: weights: %w", app, err)
	}
	if r.UpdatedAt, err = parseTime(updated); err != nil {
		return store.Route{}, fmt.Errorf("load route of %s: %w", app, err)
	}
	return r, nil
}

// SaveRoute stores app's route table, replacing any previous one, and
// stamps it with the write time and the next revision.
func (s *Store) SaveRoute(ctx context.Context, app string, r store.Route) error {
	weights, err := json.Marshal(r.Weights)
	if err != nil {
		return fmt.Errorf("save route of %s: weights: %w", app, err)
	}
	_, err = s.w.ExecContext(ctx, `
INSERT INTO bluegreen_routes (app, live, weights, rev, updated_at) VALUES (?, ?, ?, 1, ?)
ON CONFLICT (app) DO UPDATE SET live = excluded.live, weights = excluded.weights,
	rev = bluegreen_routes.rev + 1, updated_at = excluded.updated_at`,
		app, r.Live, string(weights), formatTime(now()))
	if err != nil {
		return fmt.Errorf("save route of %s: %w", app, err)
	}
	return nil
}
