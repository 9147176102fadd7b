package server

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bluegreen-dev/bluegreen/internal/schemagate"
	"github.com/bluegreen-dev/bluegreen/internal/web"
)

// newAdmin builds the admin listener's handler: the API over the server's
// parts (control), the dashboard with its charts and migration view, and
// the metrics of reg.
func (s *Server) newAdmin(token string, reg *prometheus.Registry) (http.Handler, error) {
	return web.New(web.Options{
		Series:     s.series,
		Migrations: schemagate.Source(s.cfg, gateFacts{s}, s.log),
		// nil without migrations: the stream then has no migration events.
		MigrationEvents: s.migrationEvents(),
		Backend:         &control{s: s},
		Token:           token,
		Metrics:         promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}),
		MetricsAuth:     s.cfg.MetricsAuth,
		Registerer:      reg,
		Logger:          s.log,
		Store:           s.store,
		App:             s.cfg.App,
		OnAudit:         s.auditToWebhooks(),
	})
}
