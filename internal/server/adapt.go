package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/deploy"
	"github.com/bluegreen-dev/bluegreen/internal/router"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/verify"
)

// routerAdapter is the router as the controller drives it (deploy.Router).
type routerAdapter struct{ r *router.Router }

var _ deploy.Router = routerAdapter{}

// SetBackends gives slot new backends; new ones must pass the health
// threshold before they get traffic unless inRotation. Addresses already
// present keep their state, so re-adopted instances that serve traffic
// stay in rotation.
func (a routerAdapter) SetBackends(sl slot.Slot, addrs []string, inRotation bool) {
	a.r.SetBackends(sl, addrs, inRotation)
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

func (a routerAdapter) Drained(sl slot.Slot, since time.Time) (bool, time.Duration) {
	return a.r.Drained(sl, since)
}

// EndSlot ends the MCP sessions pinned to slot (their next requests are
// routed normally, and the new slot's 404 makes their clients start over),
// then what is in flight on it, streams cleanly, before its instances
// stop.
func (a routerAdapter) EndSlot(sl slot.Slot) {
	a.r.EndSessions(sl)
	a.r.EndSlot(sl, fmt.Errorf("slot %s is being stopped", sl))
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
