package notify

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// outcome is how the delivery of one message to one URL ended.
type outcome string

const (
	outcomeDelivered outcome = "delivered" // a 2xx response
	outcomeRejected  outcome = "rejected"  // a status not worth retrying (most 4xx)
	outcomeFailed    outcome = "failed"    // retries exhausted, or cancelled at shutdown
)

// metrics are the Notifier's Prometheus series.
type metrics struct {
	dropped    *prometheus.CounterVec
	deliveries *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bluegreen_webhook_dropped_total",
			Help: "Webhook messages dropped because the URL's queue was full (the oldest goes).",
		}, []string{"url_host"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bluegreen_webhook_deliveries_total",
			Help: "Webhook messages by how their delivery ended: delivered, rejected (non-retryable status) or failed.",
		}, []string{"url_host", "outcome"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	m.dropped, err = register(reg, m.dropped)
	if err != nil {
		return m, err
	}
	m.deliveries, err = register(reg, m.deliveries)
	return m, err
}

// register registers c, or returns the collector already registered under
// the same name (a second Notifier on the same registry shares the series).
func register(reg prometheus.Registerer, c *prometheus.CounterVec) (*prometheus.CounterVec, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("register webhook metrics: %w", err)
}
