package schemagate

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/migrate"
)

// View is GET /api/v1/migrations: where each schema migration stands and
// whether its contract would be allowed now, for the dashboard.
type View struct {
	Migrations []MigrationView `json:"migrations"`
}

// MigrationView is one migration.
type MigrationView struct {
	Name    string `json:"name"`
	Phase   string `json:"phase"`
	Missing bool   `json:"missing,omitempty"` // in the history, not in migrations.dir
	// Contract says, for an expanded migration, whether `bluegreen migrate
	// contract` would pass the release gate now, and why not.
	Contract *Contract `json:"contract,omitempty"`
}

// Contract is the contract gate's answer for one migration.
type Contract struct {
	Allowed bool   `json:"allowed"`
	Reason  string `json:"reason,omitempty"`
}

// Source answers the dashboard's GET /api/v1/migrations with a View, asking
// f which releases run; nil when the app has no migrations.database_url
// (the admin API then answers 404).
func Source(cfg *config.Config, f Facts, log *slog.Logger) func(ctx context.Context) (any, error) {
	if cfg.Migrations.DatabaseURL == "" {
		return nil
	}
	src := Releases(f)
	return func(ctx context.Context) (any, error) {
		running, err := src.Running(ctx)
		if err != nil {
			return nil, err
		}
		return readView(ctx, cfg, running, log, time.Now())
	}
}

// readView reads each migration's state from the app's database and asks
// the contract gate about each expanded one, given the releases that are
// live or warm at now.
func readView(ctx context.Context, cfg *config.Config, running []migrate.Running, log *slog.Logger, now time.Time) (View, error) {
	set, err := migrate.Load(cfg.MigrationsDir())
	if err != nil {
		return View{}, err
	}
	db, err := migrate.Open(ctx, cfg.Migrations.DatabaseURL)
	if err != nil {
		return View{}, err
	}
	defer db.Close() //nolint:errcheck // read only; nothing to do about it
	sts, err := migrate.New(db, set, migrate.Options{Log: log}).Status(ctx)
	if err != nil {
		return View{}, fmt.Errorf("migration status: %w", err)
	}
	// The same gate as `bluegreen migrate contract`: warm releases, the
	// time left until their scale-down, and bake_time.
	gate := Gate(cfg)
	gate.Now = func() time.Time { return now }
	out := View{Migrations: make([]MigrationView, 0, len(sts))}
	for _, st := range sts {
		v := MigrationView{Name: st.Name, Phase: string(st.Phase), Missing: st.Missing}
		if st.Phase == migrate.PhaseExpanded {
			v.Contract = &Contract{Allowed: true}
			if err := gate.Check(st.Name, running); err != nil {
				v.Contract = &Contract{Reason: err.Error()}
			}
		}
		out.Migrations = append(out.Migrations, v)
	}
	return out, nil
}
