package server

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/health"
	"github.com/bluegreen-dev/bluegreen/internal/router"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// newRouter builds the data plane from the routing and health settings.
// MCP session pins are kept in st; previewSecret is the preview header's
// value ("" without one).
func newRouter(cfg *config.Config, st store.Store, previewSecret string, log *slog.Logger, reg prometheus.Registerer) (*router.Router, error) {
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
		SessionStore: sessionStore{store: st, app: cfg.App},
		SessionDrain: cfg.Routing.SessionDrainTimeout(),
		MCPMetrics:   cfg.Routing.MCPMetrics,
		// Analysis counts MCP errors inside 2xx answers as errors.
		MCPErrors: cfg.AnalysisConfigured(),
		// Larger request bodies get 413 (routing.max_request_body).
		MaxRequestBody: cfg.Routing.MaxRequestBody.Bytes(),
		// A 504 naming the slot when an instance sends no headers in time.
		ResponseHeaderTimeout: cfg.Routing.ResponseHeaderTimeout.D(),
		// X-Forwarded-* honoured from these peers only.
		TrustedProxies: cfg.Routing.TrustedProxyPrefixes(),
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
	r, err := router.New(ropts)
	if err != nil {
		return nil, fmt.Errorf("build router: %w", err)
	}
	return r, nil
}

func healthOptions(cfg *config.Config) health.Options {
	h := cfg.Health
	return health.Options{
		Path:               h.Path,
		Interval:           h.Interval.D(),
		Timeout:            h.Timeout.D(),
		HealthyThreshold:   h.HealthyThreshold,
		UnhealthyThreshold: h.UnhealthyThreshold,
		MaxPassiveEjection: new(int(h.MaxPassiveEjection)),
	}
}
