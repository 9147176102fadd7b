package server

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/notify"
)

// newNotifier posts deployment events to the notify webhooks; nil when
// none is configured.
func newNotifier(cfg *config.Config, log *slog.Logger, reg prometheus.Registerer) *notify.Notifier {
	if len(cfg.Notify) == 0 {
		return nil
	}
	urls := make([]string, 0, len(cfg.Notify))
	for _, n := range cfg.Notify {
		urls = append(urls, n.Webhook)
	}
	// A nil client: notify builds one that does not follow redirects (a
	// 302 would turn the POST into a GET).
	return notify.New(urls, nil, log, reg)
}
