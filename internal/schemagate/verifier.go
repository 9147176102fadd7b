package schemagate

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/deploy"
	"github.com/bluegreen-dev/bluegreen/internal/migrate"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/verify"
)

// verifier is the schema gate. It runs before the checks in verifying: a
// release that requires migrations (releases.<version>.requires) goes no
// further unless each of them is expanded and its validate.sql finds no
// row. So no user traffic reaches a release whose schema is not there yet.
type verifier struct {
	cfg  *config.Config
	next deploy.Verifier // the checks; nil when none are configured
	log  *slog.Logger
}

var _ deploy.Verifier = verifier{}

// Wrap puts the schema gate in front of the checks next (nil when none are
// configured) when any release requires migrations, and returns next
// unchanged otherwise. The gate's verdict is a check named "schema" of kind
// "gate", first in the report; the checks run only when it passes.
func Wrap(cfg *config.Config, next deploy.Verifier, log *slog.Logger) deploy.Verifier {
	for _, r := range cfg.Releases {
		if len(r.Requires) > 0 {
			return verifier{cfg: cfg, next: next, log: log}
		}
	}
	return next
}

// Verify refuses version unless its required migrations are expanded and
// validate, then runs the checks.
func (g verifier) Verify(ctx context.Context, sl slot.Slot, version string) (bool, json.RawMessage, error) {
	required := g.cfg.Releases[version].Requires
	if len(required) == 0 {
		if g.next == nil {
			return true, nil, nil
		}
		return g.next.Verify(ctx, sl, version)
	}
	start := time.Now()
	gate := verify.Result{Name: "schema", Kind: "gate", Passed: true,
		Reason: fmt.Sprintf("migrations %v are expanded and validate", required)}
	if err := g.check(ctx, required); err != nil {
		gate.Passed, gate.Reason = false, fmt.Sprintf("release %s requires %v: %v", version, required, err)
		g.log.Info("schema gate refused the release", "version", version, "slot", sl, "reason", gate.Reason)
	}
	gate.Duration = time.Since(start)
	rep := verify.Report{Slot: sl, Version: version, Results: []verify.Result{gate}, Passed: gate.Passed}
	if gate.Passed && g.next != nil {
		passed, raw, err := g.next.Verify(ctx, sl, version)
		if err != nil {
			return false, nil, err
		}
		var checks verify.Report
		if err := json.Unmarshal(raw, &checks); err != nil {
			return false, nil, fmt.Errorf("read check report: %w", err)
		}
		rep.Results = append(rep.Results, checks.Results...)
		rep.Passed = passed
	}
	data, err := json.Marshal(rep)
	if err != nil {
		return false, nil, err
	}
	return rep.Passed, data, nil
}

// check opens the app's database and validates the required migrations;
// Validate also refuses a migration that is not expanded.
func (g verifier) check(ctx context.Context, required []string) error {
	if g.cfg.Migrations.DatabaseURL == "" {
		return fmt.Errorf("migrations.database_url is not set, so the schema cannot be checked")
	}
	set, err := migrate.Load(g.cfg.MigrationsDir())
	if err != nil {
		return err
	}
	db, err := migrate.Open(ctx, g.cfg.Migrations.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close() //nolint:errcheck // the verdict is known by then; a close error changes nothing
	return migrate.New(db, set, migrate.Options{Log: g.log}).Validate(ctx, required)
}
