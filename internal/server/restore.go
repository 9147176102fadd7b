package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/deploy"
	"github.com/bluegreen-dev/bluegreen/internal/router"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store"
	"github.com/bluegreen-dev/bluegreen/internal/verify"
)

// staticVersion labels what runs in a static slot before any deployment:
// the operator runs it, bluegreen does not know its version.
const staticVersion = "static"

// restoreRouting puts the stored route table and the instances that already
// run (static addresses, processes re-adopted after a crash) into the router
// before the listeners open, so the first request after a restart goes
// where the last one before it went. The controller's own restore then
// finds them in place.
func (s *Server) restoreRouting(ctx context.Context) error {
	if s.cfg.Driver.Kind == config.DriverStatic {
		if err := s.seedStaticSlots(ctx); err != nil {
			return err
		}
	}
	for _, sl := range []router.Slot{router.Blue, router.Green} {
		if addrs := s.runtime.Running(slot.Slot(sl)); len(addrs) > 0 {
			// They served before: in rotation at once; health checks and
			// passive failures take out any that died meanwhile.
			s.router.SetBackends(sl, addrs, true)
		}
	}
	r, err := s.store.LoadRoute(ctx, s.cfg.App)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("load route table: %w", err)
	}
	t := router.Table{Live: router.Slot(r.Live), Weights: map[router.Slot]int{}}
	for sl, w := range r.Weights {
		t.Weights[router.Slot(sl)] = w
	}
	if err := s.router.SetTable(t); err != nil {
		return fmt.Errorf("restore route table: %w", err)
	}
	s.log.Info("route table restored", "live", r.Live, "weights", r.Weights)
	return nil
}

// seedStaticSlots records both static slots as running, once, so that
// routing by hand works before the first deployment.
func (s *Server) seedStaticSlots(ctx context.Context) error {
	slots, err := s.store.LoadSlots(ctx, s.cfg.App)
	if err != nil {
		return fmt.Errorf("load slots: %w", err)
	}
	have := map[slot.Slot]bool{}
	for _, st := range slots {
		have[st.Slot] = st.Version != ""
	}
	for _, sl := range slot.All() {
		if have[sl] {
			continue
		}
		if err := s.store.SaveSlot(ctx, s.cfg.App, store.SlotState{Slot: sl, Version: staticVersion, State: slot.Running}); err != nil {
			return fmt.Errorf("record static slot %s: %w", sl, err)
		}
	}
	return nil
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
	if s.preview == nil {
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
