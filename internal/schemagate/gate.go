package schemagate

import (
	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/migrate"
)

// Gate is the contract gate's rules from cfg: what each release requires
// (releases.<version>.requires) and bake_time. Its Check and Func decide
// whether a migration may be contracted while releases run (see
// migrate.Gate); Now is left nil, the wall clock.
func Gate(cfg *config.Config) migrate.Gate {
	requires := make(map[string][]string, len(cfg.Releases))
	for v, r := range cfg.Releases {
		requires[v] = r.Requires
	}
	return migrate.Gate{Releases: requires, BakeTime: cfg.BakeTime.D()}
}
