package server

import (
	"fmt"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bluegreen-dev/bluegreen/internal/analysis/provider"
	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/deploy"
	ecsdriver "github.com/bluegreen-dev/bluegreen/internal/driver/ecs"
	"github.com/bluegreen-dev/bluegreen/internal/schemagate"
)

// newController builds the deployment controller over the server's store,
// driver and router: the checks through the preview route (behind the
// schema gate), the after_promotion checks, the deployment settings and,
// when configured, analysis with its providers and synthetic traffic.
func (s *Server) newController(previewSecret string, reg prometheus.Registerer) (*deploy.Controller, error) {
	cfg := s.cfg
	verifier, err := s.verifier(previewSecret)
	if err != nil {
		return nil, err
	}
	opts := deploy.Options{
		App:            cfg.App,
		Store:          s.store,
		Runtime:        s.runtime,
		Router:         routerAdapter{s.router},
		Verifier:       schemagate.Wrap(cfg, verifier, s.log),
		AfterPromotion: s.postVerifier(),
		Strategy:       cfg.Strategy.String(),
		BakeTime:       cfg.BakeTime.D(),
		ScaleDownDelay: cfg.ScaleDownDelay.D(),
		ReadyTimeout:   cfg.Health.ReadyTimeout.D(),
		PollInterval:   cfg.Health.Interval.D(),
		AfterEvent:     crashAfter(os.Getenv(crashEnv), s.log),
		Logger:         s.log,
		Registry:       reg,
	}
	if cfg.Driver.Kind == config.DriverStatic {
		opts.SeedVersion = staticVersion
	}
	if k, ok := s.runtime.(kubeRuntime); ok {
		// Traffic moves by the mode's objects, or through bluegreen's
		// router fed with the pods' endpoints.
		if opts.Router, err = kubeRouter(k, opts.Router, previewSecret); err != nil {
			return nil, fmt.Errorf("kubernetes traffic: %w", err)
		}
	}
	if e, ok := s.runtime.(ecsRuntime); ok {
		// Traffic moves by the production listener's forward action.
		opts.Router = ecsdriver.NewListener(e.Driver)
	}
	if cfg.AnalysisConfigured() {
		opts.Meter, opts.Analysis = newAnalysisMeter(s.router, cfg.Analysis.Filters()), &cfg.Analysis
		opts.Meter = s.clusterMeter(opts.Meter) // every router's counts in a cluster
		if s.synthetic != nil {
			opts.Synthetic = s.synthetic
		}
		// Only a non-empty set: a nil *provider.Set in the interface would
		// not be nil.
		if len(cfg.Analysis.Providers) > 0 {
			ps, err := provider.New(cfg.Analysis.Providers, nil)
			if err != nil {
				return nil, fmt.Errorf("analysis providers: %w", err)
			}
			opts.Providers = ps
		}
	}
	if _, ok := s.runtime.(ecsRuntime); ok {
		opts.Analysis = ecsAnalysis(opts.Analysis) // ecs.go
	}
	c, err := deploy.New(opts)
	if err != nil {
		return nil, fmt.Errorf("build controller: %w", err)
	}
	return c, nil
}
