package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/api"
	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/migrate"
	"github.com/bluegreen-dev/bluegreen/internal/schemagate"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

const migrateArgs = "status | plan [expand|contract|restore|rollback] [NAME] | expand [NAME] | contract [NAME] [--force --reason R] | validate [NAME] [--sample N] | rollback NAME [--force --reason R] | restore NAME | repair NAME"

func cmdMigrate(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "migrate", migrateArgs)
	cfgPath := fs.String("c", "bluegreen.yaml", "config file")
	lockTimeout := fs.Duration("lock-timeout", 2*time.Second, "PostgreSQL lock_timeout for each statement")
	batch := fs.Int("batch-size", migrate.DefaultBatchSize, "backfill keys per batch (at most)")
	target := fs.Duration("batch-target", 200*time.Millisecond, "a backfill batch slower than this shrinks and pauses")
	duty := fs.Float64("duty-cycle", migrate.DefaultDutyCycle, "share of time the backfill may run batches, 0 < x <= 1 (1: no pause between batches)")
	maxRate := fs.Float64("max-rate", 0, "cap on backfill rows per second (0: none)")
	wait := fs.Duration("wait", time.Minute, "how long to wait for another runner's lock")
	force := fs.Bool("force", false, "contract even though a live or warm release may need the old shape, or roll back while one needs the new shape (needs --reason)")
	reason := fs.String("reason", "", "why the contract or rollback is forced; recorded in the history or the event log")
	sample := fs.Int("sample", 0, "validate: check a random sample of up to N rows of each table with the validators generated from ops.yaml (0: every row)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageErr("give a subcommand: %s", migrateArgs)
	}
	sub, rest := pos[0], pos[1:]
	if *duty <= 0 || *duty > 1 {
		return usageErr("--duty-cycle %v: want a number above 0 and at most 1, such as 0.5", *duty)
	}
	if *sample < 0 {
		return usageErr("--sample %d: want a number of rows, 0 for every row", *sample)
	}
	if *maxRate < 0 {
		return usageErr("--max-rate %v: want rows per second, 0 for no cap", *maxRate)
	}
	if *force && strings.TrimSpace(*reason) == "" {
		return usageErr("--force needs --reason \"why\"")
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	if cfg.Migrations.DatabaseURL == "" {
		return usageErr("%s: migrations.database_url is empty: set it to postgres://… or sqlite:path", *cfgPath)
	}
	set, err := migrate.Load(cfg.MigrationsDir())
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	one := func(required bool) (string, error) {
		switch {
		case len(rest) > 1:
			return "", usageErr("migrate %s takes at most one NAME", sub)
		case len(rest) == 1:
			return rest[0], nil
		case required:
			return "", usageErr("migrate %s needs a NAME", sub)
		}
		return "", nil
	}
	db, err := migrate.Open(ctx, cfg.Migrations.DatabaseURL)
	if err != nil {
		return failErr(err)
	}
	defer db.Close() //nolint:errcheck // nothing to do about it at exit
	eng := migrate.New(db, set, migrate.Options{LockTimeout: *lockTimeout, BatchSize: *batch, BatchTarget: *target, DutyCycle: *duty, MaxRate: *maxRate, RunnerWait: *wait, Out: e.stdout,
		App: cfg.App, Releases: schemagate.Gate(cfg).Releases})

	switch sub {
	case "status":
		if len(rest) > 0 {
			return usageErr("migrate status takes no NAME")
		}
		return failIf(printMigrateStatus(ctx, e, eng))
	case "plan":
		op := migrate.OpExpand
		if len(rest) > 0 {
			switch migrate.Op(rest[0]) {
			case migrate.OpExpand, migrate.OpContract, migrate.OpRestore, migrate.OpRollback:
				op, rest = migrate.Op(rest[0]), rest[1:]
			}
		}
		name, err := one(op == migrate.OpRestore || op == migrate.OpRollback)
		if err != nil {
			return err
		}
		p, err := eng.Plan(ctx, op, name)
		if err != nil {
			return failErr(err)
		}
		return failIf(p.Format(e.stdout))
	case "expand":
		name, err := one(false)
		if err != nil {
			return err
		}
		return failIf(eng.Expand(ctx, name))
	case "contract":
		name, err := one(false)
		if err != nil {
			return err
		}
		// The same gate as serve's dashboard, over the facts serve publishes.
		opts := migrate.ContractOptions{Gate: schemagate.Gate(cfg).Func(&serveReleases{cfg: cfg})}
		if *force {
			opts.ForceReason = *reason
		}
		return failIf(eng.Contract(ctx, name, opts))
	case "validate":
		name, err := one(false)
		if err != nil {
			return err
		}
		var names []string
		if name != "" {
			names = []string{name}
		}
		return failIf(eng.ValidateSample(ctx, names, *sample))
	case "rollback":
		name, err := one(true)
		if err != nil {
			return err
		}
		// Refused while serve runs a release that requires the migration.
		opts := migrate.RollbackOptions{Gate: migrate.RollbackGate(&serveReleases{cfg: cfg}, schemagate.Gate(cfg).Releases)}
		if *force {
			opts.ForceReason = *reason
		}
		return failIf(eng.Rollback(ctx, name, opts))
	case "restore":
		name, err := one(true)
		if err != nil {
			return err
		}
		return failIf(eng.Restore(ctx, name))
	case "repair":
		name, err := one(true)
		if err != nil {
			return err
		}
		return failIf(eng.Repair(ctx, name))
	}
	return usageErr("unknown migrate subcommand %q: want %s", sub, migrateArgs)
}

func failIf(err error) error {
	if err == nil {
		return nil
	}
	return failErr(err)
}

func printMigrateStatus(ctx context.Context, e *env, eng *migrate.Engine) error {
	st, err := eng.Status(ctx)
	if err != nil {
		return err
	}
	if len(st) == 0 {
		fmt.Fprintln(e.stdout, "no migrations")
		return nil
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "MIGRATION\tPHASE\tSTEP\tBACKFILL\tUPDATED\tBY\tNOTE")
	var changed []error
	for _, s := range st {
		step, bf, upd, by, note := "-", "-", "-", "-", ""
		if r := s.Record; r != nil {
			step = fmt.Sprint(r.Step)
			if r.BackfillNext != nil {
				bf = fmt.Sprintf("%d rows", r.BackfillRows)
			}
			upd, by = r.UpdatedAt.Format(time.RFC3339), r.AppliedBy
			if r.ForceReason != "" {
				note = "forced: " + r.ForceReason
			}
		}
		if s.Missing {
			note = "missing from the migrations directory"
		}
		for _, c := range s.Changed {
			note = strings.TrimSpace(note + " " + string(c.File) + " changed")
			changed = append(changed, c)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Phase, step, bf, upd, by, note)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return errors.Join(changed...)
}

// serveReleases asks the running serve which releases are live or warm.
type serveReleases struct{ cfg *config.Config }

var _ migrate.Releases = (*serveReleases)(nil)

func (s *serveReleases) Running(ctx context.Context) ([]migrate.Running, error) {
	c, err := clientFor(s.cfg)
	if err != nil {
		return nil, err
	}
	return schemagate.Releases(serveFacts{c: c, addr: s.cfg.AdminListen}).Running(ctx)
}

// serveFacts reads the contract gate's facts from serve's admin API.
type serveFacts struct {
	c    *client
	addr string // admin_listen, for errors
}

var _ schemagate.Facts = serveFacts{}

func (f serveFacts) Slots(ctx context.Context) ([]api.SlotStatus, error) {
	var st api.Status
	if err := f.c.do(ctx, "GET", "/api/v1/status", nil, &st); err != nil {
		return nil, fmt.Errorf("ask serve at %s: %w", f.addr, err)
	}
	return st.Slots, nil
}

func (f serveFacts) Deployments(ctx context.Context, limit int) ([]store.Deployment, error) {
	var ds []store.Deployment
	if err := f.c.do(ctx, "GET", fmt.Sprintf("/api/v1/deployments?limit=%d", limit), nil, &ds); err != nil {
		return nil, fmt.Errorf("ask serve at %s: %w", f.addr, err)
	}
	return ds, nil
}

func (f serveFacts) Events(ctx context.Context, id int64) ([]store.Event, error) {
	var v api.DeploymentView
	if err := f.c.do(ctx, "GET", fmt.Sprintf("/api/v1/deployments/%d", id), nil, &v); err != nil {
		return nil, fmt.Errorf("ask serve at %s: %w", f.addr, err)
	}
	return v.Events, nil
}
