// Package daemon is how the CLI runs the server side in its own process
// (`bluegreen serve`, `bluegreen demo`): one constructor and the two
// methods those commands use. The CLI's own package then depends on the
// admin API's types (package api) and on this narrow seam, never on the
// router, the controller or the server that wires them.
package daemon

import (
	"context"
	"log/slog"
	"os"

	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/server"
)

// Daemon is a bound, not yet running bluegreen server.
type Daemon interface {
	// Addrs returns the bound addresses of the production, preview and
	// admin listeners ("" for a listener that is off).
	Addrs() (production, preview, admin string)
	// Run serves until ctx ends, then drains and stops.
	Run(ctx context.Context) error
	// EnableHandoff makes Run hand the listeners and the release's
	// instances to a new process (the binary at exe run with args) each
	// time trigger fires, and return once that one serves.
	EnableHandoff(trigger <-chan os.Signal, exe string, args []string)
}

var _ Daemon = (*server.Server)(nil)

// Start builds the server that cfg describes and binds its listeners.
func Start(ctx context.Context, cfg *config.Config, log *slog.Logger) (Daemon, error) {
	s, err := server.New(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	return s, nil
}
