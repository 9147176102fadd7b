package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"path/filepath"

	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/deploy"
	"github.com/bluegreen-dev/bluegreen/internal/router"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/verify"
)

// routerAdapter lets the controller drive the router with plain slot names.
type routerAdapter struct{ r *router.Router }

var _ deploy.Router = routerAdapter{}

// SetBackends gives slot new backends; new ones must pass the health
// threshold before they get traffic. Addresses already present keep their
// state, so re-adopted instances that serve traffic stay in rotation.
func (a routerAdapter) SetBackends(sl slot.Slot, addrs []string) {
	a.r.SetBackends(router.Slot(sl), addrs, false)
}

func (a routerAdapter) SetRoute(live slot.Slot, weights map[slot.Slot]int) error {
	t := router.Table{Live: router.Slot(live), Weights: make(map[router.Slot]int, len(weights))}
	for s, w := range weights {
		t.Weights[router.Slot(s)] = w
	}
	return a.r.SetTable(t)
}

func (a routerAdapter) Route() (slot.Slot, map[slot.Slot]int) {
	t := a.r.Table()
	w := make(map[slot.Slot]int, len(t.Weights))
	for s, v := range t.Weights {
		w[slot.Slot(s)] = v
	}
	return slot.Slot(t.Live), w
}

func (a routerAdapter) SlotReady(sl slot.Slot) (healthy, total int) {
	return a.r.SlotReady(router.Slot(sl))
}

// checkVerifier runs the configured checks for the idle slot through the
// preview route, exactly as a user reaching the preview would.
type checkVerifier struct {
	runner *verify.Runner
	// base reaches the idle slot; live reaches the live slot through the
	// production listener, "" when no release is live.
	base, live func() string
	opts       verify.Options // the fixed part: Dir, BrowserHeaders
	artifacts  string
}

func newVerifier(cfg *config.Config, checks []config.Check, client *http.Client, base, live func() string, opts verify.Options, log *slog.Logger) deploy.Verifier {
	if len(checks) == 0 {
		return nil
	}
	opts.Dir = cfg.Dir
	return &checkVerifier{
		runner:    verify.NewRunner(checks, client, log),
		base:      base,
		live:      live,
		opts:      opts,
		artifacts: filepath.Join(cfg.Path(".bluegreen"), "artifacts"),
	}
}

func (v *checkVerifier) Verify(ctx context.Context, sl slot.Slot, version string) (bool, json.RawMessage, error) {
	o := v.opts
	o.BaseURL, o.LiveURL, o.Slot, o.Version = v.base(), v.live(), sl, version
	o.ArtifactsDir = filepath.Join(v.artifacts, string(sl)+"-"+version)
	rep := v.runner.Run(ctx, o, "")
	data, err := json.Marshal(rep)
	if err != nil {
		return false, nil, err
	}
	return rep.Passed, data, nil
}
