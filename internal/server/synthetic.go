package server

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/router"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/synthetic"
)

// newSynthetic builds the synthetic traffic of analysis.synthetic, sent
// through r's in-process handler of each slot; nil when it is off (or
// analysis is).
func newSynthetic(cfg *config.Config, r *router.Router, log *slog.Logger, reg prometheus.Registerer) (*synthetic.Generator, error) {
	sc := cfg.Analysis.Synthetic
	if sc == nil || !cfg.AnalysisConfigured() {
		return nil, nil
	}
	g, err := synthetic.New(synthetic.Options{
		Config: *sc,
		Handler: func(sl slot.Slot) http.Handler {
			return r.Synthetic(sl)
		},
		Host:     syntheticHost(cfg.Listen),
		Logger:   log,
		Registry: reg,
	})
	if err != nil {
		return nil, fmt.Errorf("analysis.synthetic: %w", err)
	}
	return g, nil
}

// syntheticHost is the Host header of synthetic requests: the production
// listener's address as a local client would write it (localhost for an
// unspecified host).
func syntheticHost(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "localhost"
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
