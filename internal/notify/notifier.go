package notify

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// Notifier sends deployment events to webhooks. Create it with New and
// call Run once.
type Notifier struct {
	endpoints []endpoint
	client    *http.Client
	log       *slog.Logger
	metrics   *metrics
	set       settings
}

// New returns a Notifier for urls. A URL that is not an absolute http(s)
// URL is logged (without its secrets) and skipped; config validation is
// expected to have refused it already. client nil means an http.Client
// that does not follow redirects (a 301/302 would turn the POST into a
// bodiless GET; the 3xx is reported as a rejection instead); the
// per-attempt timeout applies to any client. logger nil discards logs;
// reg nil leaves the metrics unregistered. opts change the defaults (queue
// size, attempts, backoff, timeouts) and exist mostly for tests.
func New(urls []string, client *http.Client, logger *slog.Logger, reg prometheus.Registerer, opts ...Option) *Notifier {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if client == nil {
		client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	set := defaultSettings()
	for _, o := range opts {
		o(&set)
	}
	m, err := newMetrics(reg)
	if err != nil {
		logger.Error("webhook metrics not registered", "err", err)
	}
	n := &Notifier{client: client, log: logger, metrics: m, set: set}
	for i, raw := range urls {
		e, err := parseEndpoint(raw)
		if err != nil {
			logger.Error("webhook skipped", "index", i, "err", err)
			continue
		}
		n.endpoints = append(n.endpoints, e)
	}
	return n
}

// Run reads events until ctx is done or events is closed, and queues each
// one for every URL. Then it stops reading, gives the queued messages up
// to the grace period (2s by default) to be delivered, cancels what is
// still pending, waits for its workers and returns nil. It never blocks
// on a webhook: a full queue drops its oldest message.
func (n *Notifier) Run(ctx context.Context, events <-chan store.Event, app string) error {
	// Workers outlive ctx by the grace period, then are cancelled.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()

	queues := make([]*queue, len(n.endpoints))
	var wg sync.WaitGroup
	for i, e := range n.endpoints {
		queues[i] = newQueue(n.set.queueSize)
		q := queues[i]
		wg.Go(func() { n.work(workCtx, e, q) })
	}

	n.consume(ctx, events, app, queues)

	for _, q := range queues {
		q.close()
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	grace := time.NewTimer(n.set.grace)
	defer grace.Stop()
	select {
	case <-done:
		return nil
	case <-grace.C:
	}
	cancelWork()
	<-done
	for i, q := range queues {
		if left := q.len(); left > 0 {
			n.log.Warn("webhook events not delivered at shutdown", "url", n.endpoints[i].safe, "app", app, "count", left)
		}
	}
	return nil
}

// consume fans events out to the queues until ctx is done or events closes.
func (n *Notifier) consume(ctx context.Context, events <-chan store.Event, app string, queues []*queue) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			if len(queues) == 0 {
				continue
			}
			m, err := encode(app, ev)
			if err != nil {
				n.log.Error("webhook event skipped", "app", app, "err", err)
				continue
			}
			for i, q := range queues {
				if old := q.push(m); old != nil {
					e := n.endpoints[i]
					n.metrics.dropped.WithLabelValues(e.host).Inc()
					n.log.Warn("webhook queue full; dropped the oldest event",
						"url", e.safe, "app", app, "deployment_id", old.deploymentID, "event_id", old.eventID)
				}
			}
		}
	}
}
