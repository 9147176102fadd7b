package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// RouteChannel is the LISTEN/NOTIFY channel on which every route save
// announces itself, with the payload "<rev> <app>", when it commits.
const RouteChannel = "bluegreen_routes"

// LoadRoute returns app's stored route table, or store.ErrNotFound.
func (s *Store) LoadRoute(ctx context.Context, app string) (store.Route, error) {
	var (
		r       store.Route
		weights []byte
	)
	err := s.pool.QueryRow(ctx,
		`SELECT live, weights, rev, updated_at FROM bluegreen_routes WHERE app = $1`, app,
	).Scan(&r.Live, &weights, &r.Rev, &r.UpdatedAt)
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

// SaveRoute stores app's route table, replacing any previous one, stamps
// it with the write time and the next revision, and notifies RouteChannel
// in the same transaction (listeners hear it once it commits).
func (s *Store) SaveRoute(ctx context.Context, app string, r store.Route) error {
	return s.saveRoute(ctx, app, r, nil)
}

func (s *Store) saveRoute(ctx context.Context, app string, r store.Route, guard guard) error {
	weights, err := json.Marshal(r.Weights)
	if err != nil {
		return fmt.Errorf("save route of %s: weights: %w", app, err)
	}
	err = inTx(ctx, s.pool, func(tx pgx.Tx) error {
		if err := guard.check(ctx, tx); err != nil {
			return err
		}
		var rev int64
		err := tx.QueryRow(ctx, `
INSERT INTO bluegreen_routes (app, live, weights, rev, updated_at) VALUES ($1, $2, $3, 1, $4)
ON CONFLICT (app) DO UPDATE SET live = excluded.live, weights = excluded.weights,
	rev = bluegreen_routes.rev + 1, updated_at = excluded.updated_at
RETURNING rev`,
			app, r.Live, string(weights), now()).Scan(&rev)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, RouteChannel, fmt.Sprintf("%d %s", rev, app))
		return err
	})
	if err != nil {
		return fmt.Errorf("save route of %s: %w", app, err)
	}
	return nil
}
