package server

import (
	"context"
	"fmt"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"log/slog"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/deploy"
	"github.com/bluegreen-dev/bluegreen/internal/migrate"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// MigrationsView is GET /api/v1/migrations: where each schema migration
// stands and whether its contract would be allowed now, for the dashboard.
type MigrationsView struct {
	Migrations []MigrationView `json:"migrations"`
}

// MigrationView is one migration.
type MigrationView struct {
	Name    string `json:"name"`
	Phase   string `json:"phase"`
	Missing bool   `json:"missing,omitempty"` // in the history, not in migrations.dir
	// Contract says, for an expanded migration, whether `bluegreen migrate
	// contract` would pass the release gate now, and why not.
	Contract *ContractGate `json:"contract,omitempty"`
}

// ContractGate is the release gate's answer for one migration.
type ContractGate struct {
	Allowed bool   `json:"allowed"`
	Reason  string `json:"reason,omitempty"`
}

// migrationsSource returns the dashboard's view of the migrations, or nil
// when the app has none configured.
func (s *Server) migrationsSource() func(ctx context.Context) (any, error) {
	if s.cfg.Migrations.DatabaseURL == "" {
		return nil
	}
	return func(ctx context.Context) (any, error) {
		running, err := s.running(ctx)
		if err != nil {
			return nil, err
		}
		return migrationsView(ctx, s.cfg, running, s.log, time.Now())
	}
}

// migrationsView reads each migration's state from the app's database and
// asks the release gate about each expanded one, given the releases that
// are live or warm.
func migrationsView(ctx context.Context, cfg *config.Config, running []migrate.Running, log *slog.Logger, now time.Time) (MigrationsView, error) {
	set, err := migrate.Load(cfg.MigrationsDir())
	if err != nil {
		return MigrationsView{}, err
	}
	db, err := migrate.Open(ctx, cfg.Migrations.DatabaseURL)
	if err != nil {
		return MigrationsView{}, err
	}
	defer db.Close() //nolint:errcheck // read only; nothing to do about it
	sts, err := migrate.New(db, set, migrate.Options{Log: log}).Status(ctx)
	if err != nil {
		return MigrationsView{}, fmt.Errorf("migration status: %w", err)
	}
	requires := make(map[string][]string, len(cfg.Releases))
	for v, r := range cfg.Releases {
		requires[v] = r.Requires
	}
	// The same gate as `bluegreen migrate contract`: warm releases, the
	// time left until their scale-down, and bake_time.
	gate := migrate.Gate{Releases: requires, BakeTime: cfg.BakeTime.D(), Now: func() time.Time { return now }}
	out := MigrationsView{Migrations: make([]MigrationView, 0, len(sts))}
	for _, st := range sts {
		v := MigrationView{Name: st.Name, Phase: string(st.Phase), Missing: st.Missing}
		if st.Phase == migrate.PhaseExpanded {
			v.Contract = &ContractGate{Allowed: true}
			if err := gate.Check(st.Name, running); err != nil {
				v.Contract = &ContractGate{Reason: err.Error()}
			}
		}
		out.Migrations = append(out.Migrations, v)
	}
	return out, nil
}

// running lists the releases that are live or warm, as the contract gate
// of `bluegreen migrate contract` sees them: a warm one with its scheduled
// scale-down, a live one with when it got all production traffic.
func (s *Server) running(ctx context.Context) ([]migrate.Running, error) {
	st, err := s.ctrl.Status(ctx)
	if err != nil {
		return nil, err
	}
	return RunningReleases(st, func(sl slot.Slot, version string) (time.Time, error) {
		return s.promotedAt(ctx, sl, version)
	})
}

// RunningReleases lists the releases of st that are live or warm, as the
// contract gate sees them: a warm one with its scheduled scale-down, a live
// one with when it got all production traffic (from promotedAt). Used by
// serve and by `bluegreen migrate contract`, which reads st from serve.
func RunningReleases(st deploy.Status, promotedAt func(sl slot.Slot, version string) (time.Time, error)) ([]migrate.Running, error) {
	var out []migrate.Running
	for _, sl := range st.Slots {
		if sl.Version == "" || sl.State == slot.Stopped {
			continue
		}
		r := migrate.Running{Slot: sl.Slot, Version: sl.Version, State: migrate.SlotWarm, StopAt: sl.StopAt}
		if sl.Live || sl.Weight > 0 {
			r.State = migrate.SlotLive
			var err error
			if r.PromotedAt, err = promotedAt(sl.Slot, sl.Version); err != nil {
				return nil, err
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// promotedAt is when the release in slot got all production traffic: the
// first baking event of the newest deployment that took it there, or that
// deployment's end when it had no baking (a warm rollback). Zero when no
// such deployment is among the last 50.
func (s *Server) promotedAt(ctx context.Context, sl slot.Slot, version string) (time.Time, error) {
	ds, err := s.store.ListDeployments(ctx, s.cfg.App, 50)
	if err != nil {
		return time.Time{}, err
	}
	return deploy.PromotedAt(ds, sl, version, func(id int64) ([]store.Event, error) {
		return s.store.Events(ctx, id)
	})
}
