package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// LoadRoute returns app's stored route table, or store.ErrNotFound.
func (s *Store) LoadRoute(ctx context.Context, app string) (store.Route, error) {
	var (
		r       store.Route
		weights []byte
	)
	err := s.pool.QueryRow(ctx,
		`SELECT live, weights, updated_at FROM bluegreen_routes WHERE app = $1`, app,
	).Scan(&r.Live, &weights, &r.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Route{}, fmt.Errorf("load route of %s: %w", app, store.ErrNotFound)
	}
	if err != nil {
		return store.Route{}, fmt.Errorf("load route of %s: %w", app, err)
	}
	if err := json.Unmarshal(weights, &r.Weights); err != nil {
		return store.Route{}, fmt.Errorf("load route of %s: weights: %w", app, err)
	}
	r.UpdatedAt = r.UpdatedAt.UTC()
	return r, nil
}

// SaveRoute stores app's route table, replacing any previous one, and
// stamps it with the write time.
func (s *Store) SaveRoute(ctx context.Context, app string, r store.Route) error {
	weights, err := json.Marshal(r.Weights)
	if err != nil {
		return fmt.Errorf("save route of %s: weights: %w", app, err)
	}
	_, err = s.pool.Exec(ctx, `
INSERT INTO bluegreen_routes (app, live, weights, updated_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (app) DO UPDATE SET live = excluded.live, weights = excluded.weights, updated_at = excluded.updated_at`,
		app, r.Live, string(weights), now())
	if err != nil {
		return fmt.Errorf("save route of %s: %w", app, err)
	}
	return nil
}
