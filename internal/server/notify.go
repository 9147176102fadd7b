package server

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/notify"
	"github.com/bluegreen-dev/bluegreen/internal/store"
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

// auditQueue bounds the audit entries waiting for the webhooks; beyond
// it the newest is dropped (and logged), the action itself is not held.
const auditQueue = 256

// auditToWebhooks is web.Options.OnAudit: each admin action goes to the
// webhooks as an event of its own kind, phase "audit" with no deployment
// (deployment_id 0) and id minus the entry's id (deployment events have
// positive ids: a receiver that drops duplicates by X-Bluegreen-Event-Id
// never confuses the two), its reason "<actor> <action>: <result>" and its data
// {"kind": "audit", "actor", "action", "args", "result", "remote"}. Nil
// without webhooks.
func (s *Server) auditToWebhooks() func(store.AuditEntry) {
	if s.notifier == nil {
		return nil
	}
	s.audits = make(chan store.Event, auditQueue)
	return func(e store.AuditEntry) {
		data, err := json.Marshal(struct {
			Kind   string          `json:"kind"`
			Actor  string          `json:"actor"`
			Action string          `json:"action"`
			Args   json.RawMessage `json:"args,omitempty"`
			Result string          `json:"result"`
			Remote string          `json:"remote"`
		}{"audit", e.Actor, e.Action, e.Args, e.Result, e.Remote})
		if err != nil {
			s.log.Error("audit entry not sent to the webhooks", "action", e.Action, "err", err)
			return
		}
		ev := store.Event{ID: -e.ID, Time: e.Time, Phase: notify.PhaseAudit, Reason: e.Actor + " " + e.Action + ": " + e.Result, Data: data}
		select {
		case s.audits <- ev:
		default:
			s.log.Warn("webhook queue of audit entries full; dropped one", "action", e.Action, "actor", e.Actor)
		}
	}
}

// withAudits merges the audit entries into the deployment events the
// notifier reads; the result closes when events does.
func (s *Server) withAudits(ctx context.Context, events <-chan store.Event) <-chan store.Event {
	if s.audits == nil {
		return events
	}
	out := make(chan store.Event)
	go func() {
		defer close(out)
		for {
			var ev store.Event
			select {
			case <-ctx.Done():
				return
			case e, ok := <-events:
				if !ok {
					return
				}
				ev = e
			case ev = <-s.audits:
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}
