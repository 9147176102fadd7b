package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/bluegreen-dev/bluegreen/internal/analysis/provider"
	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/deploy"
	"github.com/bluegreen-dev/bluegreen/internal/notify"
	"github.com/bluegreen-dev/bluegreen/internal/router"
	"github.com/bluegreen-dev/bluegreen/internal/schemagate"
	"github.com/bluegreen-dev/bluegreen/internal/store"
	"github.com/bluegreen-dev/bluegreen/internal/synthetic"
	"github.com/bluegreen-dev/bluegreen/internal/web"
)

// Server is one running bluegreen: router, controller, admin API.
type Server struct {
	cfg      *config.Config
	log      *slog.Logger
	store    store.Store
	router   *router.Router
	runtime  runtime
	ctrl     *deploy.Controller
	notifier *notify.Notifier
	// migrations follows `bluegreen migrate` runs (metric, events); nil
	// without migrations.database_url.
	migrations *migrationWatch
	// synthetic sends analysis.synthetic's traffic; nil when it is off.
	synthetic *synthetic.Generator
	// series samples the router's counters for the dashboard's charts.
	series *web.Series

	production, preview, admin *listener
}

// New builds a server from cfg and binds its listeners. Close it with Run's
// return, or Close if Run is never called.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger) (_ *Server, err error) {
	s := &Server{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			s.closeAll()
		}
	}()
	token, err := readSecret(cfg.AdminTokenPath(), "admin_token_file")
	if err != nil {
		return nil, err
	}
	var previewSecret string
	if cfg.Routing.PreviewHeader.Name != "" {
		if previewSecret, err = readSecret(cfg.PreviewSecretPath(), "routing.preview_header.value_file"); err != nil {
			return nil, err
		}
	}
	if s.store, err = openStore(ctx, cfg); err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	ropts := router.Options{
		Logger:        log,
		Registry:      reg,
		DrainTimeout:  cfg.Routing.DrainTimeout.D(),
		PreviewHeader: cfg.Routing.PreviewHeader.Name,
		PreviewSecret: previewSecret,
		Health:        healthOptions(cfg),
		// Pin each MCP session to the instance that issued it, keep the
		// pins in the state store, and let the old slot's sessions hold up
		// its scale-down up to session_drain.
		MCPSessions:  cfg.Routing.MCPSessions,
		SessionStore: sessionStore{store: s.store, app: cfg.App},
		SessionDrain: cfg.Routing.SessionDrainTimeout(),
		MCPMetrics:   cfg.Routing.MCPMetrics,
		// Analysis counts MCP errors inside 2xx answers as errors.
		MCPErrors: cfg.AnalysisConfigured(),
		// Larger request bodies get 413 (routing.max_request_body).
		MaxRequestBody: cfg.Routing.MaxRequestBody.Bytes(),
	}
	if cfg.AnalysisConfigured() {
		// Counts of their own for the rules' filters.
		ropts.Filters = routerFilters(cfg.Analysis.Filters())
	}
	// routing.affinity: the sticky cookie, the client's IP, or neither.
	ropts.Affinity = router.Affinity(cfg.Routing.Affinity)
	if cfg.Routing.Sticky.Cookie != "" && cfg.Routing.Affinity == config.AffinityCookie {
		ropts.Sticky = &router.StickyOptions{Cookie: cfg.Routing.Sticky.Cookie, TTL: cfg.Routing.Sticky.TTL.D()}
	}
	if s.router, err = router.New(ropts); err != nil {
		return nil, fmt.Errorf("build router: %w", err)
	}
	if s.runtime, err = newRuntime(cfg, log); err != nil {
		return nil, err
	}
	verifier, err := s.verifier(previewSecret)
	if err != nil {
		return nil, err
	}
	var (
		meter     deploy.Meter
		an        *config.Analysis
		providers deploy.Providers
		synth     deploy.Synthetic
	)
	if cfg.AnalysisConfigured() {
		meter, an = newAnalysisMeter(s.router, cfg.Analysis.Filters()), &cfg.Analysis
		if s.synthetic, err = newSynthetic(cfg, s.router, log, reg); err != nil {
			return nil, err
		}
		if s.synthetic != nil {
			synth = s.synthetic
		}
		// Only a non-empty set: a nil *provider.Set in the interface would
		// not be nil.
		if len(cfg.Analysis.Providers) > 0 {
			ps, err := provider.New(cfg.Analysis.Providers, nil)
			if err != nil {
				return nil, fmt.Errorf("analysis providers: %w", err)
			}
			providers = ps
		}
	}
	s.ctrl, err = deploy.New(deploy.Options{
		Meter:          meter,
		Analysis:       an,
		Providers:      providers,
		Synthetic:      synth,
		App:            cfg.App,
		Store:          s.store,
		Runtime:        s.runtime,
		Router:         routerAdapter{s.router},
		Verifier:       schemagate.Wrap(cfg, verifier, log),
		AfterPromotion: s.postVerifier(),
		Strategy:       cfg.Strategy.String(),
		BakeTime:       cfg.BakeTime.D(),
		ScaleDownDelay: cfg.ScaleDownDelay.D(),
		ReadyTimeout:   cfg.Health.ReadyTimeout.D(),
		PollInterval:   cfg.Health.Interval.D(),
		SeedVersion:    seedVersion(cfg),
		AfterEvent:     crashAfter(os.Getenv(crashEnv), log),
		Logger:         log,
		Registry:       reg,
	})
	if err != nil {
		return nil, fmt.Errorf("build controller: %w", err)
	}
	// The world as the store left it goes into the router before the
	// listeners open: the first request after a restart goes where the
	// last one before it went.
	if err := s.ctrl.Restore(ctx); err != nil {
		return nil, err
	}
	if err := s.restoreSessions(ctx); err != nil {
		return nil, err
	}
	if s.production, err = listen(ctx, "production", cfg.Listen, s.router.Production(), log); err != nil {
		return nil, err
	}
	if cfg.PreviewListen != "" {
		if s.preview, err = listen(ctx, "preview", cfg.PreviewListen, s.router.Preview(), log); err != nil {
			return nil, err
		}
	}
	if len(cfg.Notify) > 0 {
		urls := make([]string, 0, len(cfg.Notify))
		for _, n := range cfg.Notify {
			urls = append(urls, n.Webhook)
		}
		// A nil client: notify builds one that does not follow redirects
		// (a 302 would turn the POST into a GET).
		s.notifier = notify.New(urls, nil, log, reg)
	}

	s.series = web.NewSeries(newMeter(s.router), web.SeriesInterval, web.SeriesSize)
	if s.migrations, err = newMigrationWatch(cfg, reg, log); err != nil {
		return nil, err
	}
	admin, err := web.New(web.Options{
		Series:     s.series,
		Migrations: schemagate.Source(cfg, gateFacts{s}, log),
		// nil without migrations: the stream then has no migration events.
		MigrationEvents: s.migrationEvents(),
		Backend:         &control{s: s},
		Token:           token,
		Metrics:         promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}),
		MetricsAuth:     cfg.MetricsAuth,
		Logger:          log,
	})
	if err != nil {
		return nil, err
	}
	if s.admin, err = listen(ctx, "admin", cfg.AdminListen, admin, log); err != nil {
		return nil, err
	}
	return s, nil
}

// Addrs returns the bound addresses (useful with port 0 in tests).
func (s *Server) Addrs() (production, preview, admin string) {
	production, admin = s.production.addr(), s.admin.addr()
	if s.preview != nil {
		preview = s.preview.addr()
	}
	return production, preview, admin
}

// Run serves until ctx is cancelled, then shuts down gracefully.
func (s *Server) Run(ctx context.Context) error {
	defer s.closeAll()
	// Parts that must outlive the listeners' drain run on their own context.
	partsCtx, stopParts := context.WithCancel(context.WithoutCancel(ctx))
	defer stopParts()
	parts, partsCtx := errgroup.WithContext(partsCtx)
	parts.Go(func() error { return s.router.Run(partsCtx) })
	parts.Go(func() error { return s.ctrl.Run(partsCtx) })
	if s.migrations != nil {
		parts.Go(func() error { return s.migrations.run(partsCtx) })
	}
	if s.synthetic != nil {
		parts.Go(func() error { return s.synthetic.Run(partsCtx) })
	}
	parts.Go(func() error { return s.series.Run(partsCtx) })
	if s.notifier != nil {
		evs, cancel := s.ctrl.Subscribe(256)
		defer cancel()
		parts.Go(func() error { return s.notifier.Run(partsCtx, evs, s.cfg.App) })
	}

	lns := s.listeners()
	serving, _ := errgroup.WithContext(ctx)
	for _, l := range lns {
		serving.Go(l.serve)
	}
	prod, prev, adm := s.Addrs()
	s.log.Info("serving", "app", s.cfg.App, "production", prod, "preview", prev, "admin", adm)

	// Wait for a stop signal or a part failing.
	failed := make(chan error, 1)
	go func() { failed <- parts.Wait() }()
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-failed:
		if runErr == nil {
			runErr = errors.New("a server part stopped unexpectedly")
		}
	}

	s.shutdown(lns)
	if err := serving.Wait(); err != nil && runErr == nil {
		runErr = err
	}
	stopParts()
	if err := parts.Wait(); err != nil && runErr == nil && !errors.Is(err, context.Canceled) {
		runErr = err
	}
	// Normal stop: the release's processes stop with the server.
	stopCtx, cancel := context.WithTimeout(context.Background(), s.cfg.Driver.Process.StopTimeout.D()+5*time.Second)
	defer cancel()
	if err := s.runtime.Close(stopCtx); err != nil && runErr == nil {
		runErr = fmt.Errorf("stop release instances: %w", err)
	}
	return runErr
}

// shutdown stops accepting, lets in-flight requests finish up to the drain
// timeout, then cancels what is left with a cause.
func (s *Server) shutdown(lns []*listener) {
	drain := s.cfg.Routing.DrainTimeout.D()
	s.log.Info("stopping: draining in-flight requests", "drain_timeout", drain)
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, l := range lns {
			// Shutdown does not wait for hijacked conns (WebSockets); the
			// router's CancelAll below ends those.
			_ = l.srv.Shutdown(ctx)
		}
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
	s.router.CancelAll(errors.New("bluegreen is shutting down: drain_timeout reached"))
	for _, l := range lns {
		_ = l.srv.Close()
	}
	<-done
}

func (s *Server) listeners() []*listener {
	var lns []*listener
	for _, l := range []*listener{s.production, s.preview, s.admin} {
		if l != nil {
			lns = append(lns, l)
		}
	}
	return lns
}

func (s *Server) closeAll() {
	for _, l := range s.listeners() {
		_ = l.ln.Close()
	}
	if s.store != nil {
		if err := s.store.Close(); err != nil {
			s.log.Error("close store", "err", err)
		}
		s.store = nil
	}
}

// readSecret reads a token or secret file; it must exist, be non-empty and
// not be readable by others.
func readSecret(path, key string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w (run `bluegreen init` to create it)", key, err)
	}
	secret := strings.TrimSpace(string(data))
	if len(secret) < 16 {
		return "", fmt.Errorf("%s: %s holds %d characters; use at least 16 random characters (`bluegreen init` writes 64)", key, path, len(secret))
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%s: %s is readable by others (mode %v); run chmod 600 %s", key, path, fi.Mode().Perm(), path)
	}
	return secret, nil
}
