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
	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/verify"
)

// verifier builds the check runner that reaches the idle slot through the
// preview listener, or through the production listener with the preview
// header when there is no preview listener.
func (s *Server) verifier(previewSecret string) (deploy.Verifier, error) {
	client := &http.Client{
		Timeout:       2 * time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	base := func() string { _, p, _ := s.Addrs(); return "http://" + p }
	// The live slot through the production listener, for compare_with_live;
	// "" when no release is live (a first deployment compares with nothing).
	live := func() string {
		l, _ := routerAdapter{s.router}.Route()
		if _, total := s.router.SlotReady(l); total == 0 {
			return ""
		}
		p, _, _ := s.Addrs()
		return "http://" + p
	}
	var opts verify.Options
	if s.cfg.PreviewListen == "" {
		if previewSecret == "" {
			if len(verify.Select(s.cfg.Checks, config.SlotIdle)) > 0 {
				return nil, fmt.Errorf("checks are configured but nothing reaches the idle slot: set preview_listen or routing.preview_header")
			}
			return nil, nil
		}
		client.Transport = verify.WithHeaders(nil, map[string]string{s.cfg.Routing.PreviewHeader.Name: previewSecret})
		base = func() string { p, _, _ := s.Addrs(); return "http://" + p }
		opts.BrowserHeaders = map[string]string{s.cfg.Routing.PreviewHeader.Name: previewSecret}
	}
	return newVerifier(s.cfg, verify.Select(s.cfg.Checks, config.SlotIdle), client, base, live, opts, s.log), nil
}

// postVerifier runs the after_promotion checks through the production
// listener once the new release has all production traffic; nil when no
// check asks for it.
func (s *Server) postVerifier() deploy.Verifier {
	var checks []config.Check
	for _, c := range s.cfg.Checks {
		if c.AfterPromotion {
			checks = append(checks, c)
		}
	}
	client := &http.Client{
		Timeout:       2 * time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	prod := func() string { p, _, _ := s.Addrs(); return "http://" + p }
	none := func() string { return "" } // the release compared with is live itself now
	return newVerifier(s.cfg, checks, client, prod, none, verify.Options{}, s.log)
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
