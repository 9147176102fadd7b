package server

import (
	"context"
	"fmt"

	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/store"
	"github.com/bluegreen-dev/bluegreen/internal/store/postgres"
	"github.com/bluegreen-dev/bluegreen/internal/store/sqlite"
)

// openStore opens the state store: PostgreSQL when state is a postgres://
// URL, else the SQLite file.
func openStore(ctx context.Context, cfg *config.Config) (store.Store, error) {
	if cfg.StateIsPostgres() {
		st, err := postgres.Open(ctx, cfg.State)
		if err != nil {
			return nil, fmt.Errorf("open state in postgres: %w", err)
		}
		return st, nil
	}
	st, err := sqlite.Open(ctx, cfg.StatePath())
	if err != nil {
		return nil, fmt.Errorf("open state %s: %w", cfg.StatePath(), err)
	}
	return st, nil
}
