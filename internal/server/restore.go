package server

import (
	"fmt"
	"net/http"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/deploy"
	"github.com/bluegreen-dev/bluegreen/internal/router"
	"github.com/bluegreen-dev/bluegreen/internal/verify"
)

// staticVersion labels what runs in a static slot before any deployment:
// the operator runs it, bluegreen does not know its version.
const staticVersion = "static"

// seedVersion is the controller's SeedVersion: what the operator runs in
// static slots.
func seedVersion(cfg *config.Config) string {
	if cfg.Driver.Kind == config.DriverStatic {
		return staticVersion
	}
	return ""
}

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
		if _, total := s.router.SlotReady(router.Slot(l)); total == 0 {
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
