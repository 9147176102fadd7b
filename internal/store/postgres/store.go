package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bluegreen-dev/bluegreen/internal/store"
)

var _ store.Store = (*Store)(nil)

// Store is a store.Store on a PostgreSQL database. It is safe for
// concurrent use.
type Store struct {
	pool *pgxpool.Pool
}

// Open connects to the database at url (postgres://… or key=value form),
// brings the store's schema up to date and returns the Store. It fails if
// the database was migrated by a newer bluegreen.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The parse error may quote the URL, password included; keep it out.
		return nil, errors.New("open postgres store: cannot parse the database URL")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres store on %s: %w", cfg.ConnConfig.Host, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres store on %s/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Database, err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres store on %s/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Database, err)
	}
	return &Store{pool: pool}, nil
}

// Close closes the connection pool, waiting for connections in use to be
// returned. It is safe to call more than once and always returns nil.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// SchemaVersion returns the schema version recorded in the database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	return schemaVersion(ctx, s.pool)
}
