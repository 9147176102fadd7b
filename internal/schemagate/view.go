package schemagate

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/api"
	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/migrate"
)

// Source answers the dashboard's GET /api/v1/migrations with a View, asking
// f which releases run; nil when the app has no migrations.database_url
// (the admin API then answers 404).
func Source(cfg *config.Config, f Facts, log *slog.Logger) func(ctx context.Context) (api.MigrationsView, error) {
	if cfg.Migrations.DatabaseURL == "" {
		return nil
	}
	src := Releases(f)
	return func(ctx context.Context) (api.MigrationsView, error) {
		running, err := src.Running(ctx)
		if err != nil {
			return api.MigrationsView{}, err
		}
		return readView(ctx, cfg, running, log, time.Now())
	}
}

// readView reads each migration's state from the app's database and asks
// the contract gate about each expanded one, given the releases that are
// live or warm at now.
func readView(ctx context.Context, cfg *config.Config, running []migrate.Running, log *slog.Logger, now time.Time) (api.MigrationsView, error) {
	set, err := migrate.Load(cfg.MigrationsDir())
	if err != nil {
		return api.MigrationsView{}, err
	}
	db, err := migrate.Open(ctx, cfg.Migrations.DatabaseURL)
	if err != nil {
		return api.MigrationsView{}, err
	}
	defer db.Close() //nolint:errcheck // read only; nothing to do about it
	sts, err := migrate.New(db, set, migrate.Options{Log: log}).Status(ctx)
	if err != nil {
		return api.MigrationsView{}, fmt.Errorf("migration status: %w", err)
	}
	// The same gate as `bluegreen migrate contract`: warm releases, the
	// time left until their scale-down, and bake_time.
	gate := Gate(cfg)
	gate.Now = func() time.Time { return now }
	out := api.MigrationsView{Migrations: make([]api.MigrationView, 0, len(sts))}
	for _, st := range sts {
		v := api.MigrationView{Name: st.Name, Phase: string(st.Phase), Missing: st.Missing}
		if st.Phase == migrate.PhaseExpanded {
			v.Contract = &api.ContractGate{Allowed: true}
			if err := gate.Check(st.Name, running); err != nil {
				v.Contract = &api.ContractGate{Reason: err.Error()}
			}
		}
		out.Migrations = append(out.Migrations, v)
	}
	return out, nil
}
