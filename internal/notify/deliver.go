package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// maxDrain is how much of a response body is read (and discarded) so the
// connection can be reused.
const maxDrain = 64 << 10

// work POSTs the queue's messages to e, in order, until the queue is
// closed and empty or ctx is done.
func (n *Notifier) work(ctx context.Context, e endpoint, q *queue) {
	for {
		m, ok := q.pop(ctx)
		if !ok {
			return
		}
		n.deliver(ctx, e, m)
	}
}

// deliver tries m up to the configured attempts, waiting with exponential
// backoff and jitter between them, and records the outcome.
func (n *Notifier) deliver(ctx context.Context, e endpoint, m *encoded) {
	log := n.log.With("url", e.safe, "deployment_id", m.deploymentID, "event_id", m.eventID)
	for attempt := 1; ; attempt++ {
		res := n.post(ctx, e, m)
		switch res.outcome {
		case outcomeDelivered:
			n.metrics.deliveries.WithLabelValues(e.host, string(outcomeDelivered)).Inc()
			log.Debug("webhook delivered", "attempt", attempt, "status", res.status)
			return
		case outcomeRejected:
			n.metrics.deliveries.WithLabelValues(e.host, string(outcomeRejected)).Inc()
			log.Warn("webhook rejected the event; not retrying", "attempt", attempt, "status", res.status)
			return
		case outcomeFailed:
		}
		if attempt >= n.set.attempts || ctx.Err() != nil {
			n.metrics.deliveries.WithLabelValues(e.host, string(outcomeFailed)).Inc()
			log.Error("webhook delivery failed; giving up", "attempts", attempt, "status", res.status, "err", res.err)
			return
		}
		wait := n.backoff(attempt, res.retryAfter)
		log.Warn("webhook delivery failed; retrying", "attempt", attempt, "status", res.status, "err", res.err, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			n.metrics.deliveries.WithLabelValues(e.host, string(outcomeFailed)).Inc()
			log.Error("webhook delivery cancelled at shutdown", "attempts", attempt, "status", res.status, "err", res.err)
			return
		}
	}
}

// result is what one attempt found. err is already redacted.
type result struct {
	outcome    outcome
	status     int
	err        string
	retryAfter time.Duration
}

// post makes one attempt, bounded by the attempt timeout.
func (n *Notifier) post(ctx context.Context, e endpoint, m *encoded) result {
	ctx, cancel := context.WithTimeout(ctx, n.set.attemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.raw, bytes.NewReader(m.body))
	if err != nil {
		return result{outcome: outcomeRejected, err: e.redact(fmt.Errorf("build request: %w", err))}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "bluegreen-webhook")
	// Lets a receiver drop the duplicates a retry after a lost response makes.
	req.Header.Set("X-Bluegreen-Event-Id", strconv.FormatInt(m.eventID, 10))
	resp, err := n.client.Do(req)
	if err != nil {
		return result{outcome: outcomeFailed, err: e.redact(err)}
	}
	_, drainErr := io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	closeErr := resp.Body.Close()
	res := result{status: resp.StatusCode, outcome: classify(resp.StatusCode)}
	if res.outcome == outcomeDelivered {
		// The status is what counts; a body cut short does not undo it.
		if err := errors.Join(drainErr, closeErr); err != nil {
			n.log.Debug("read webhook response", "url", e.safe, "err", e.redact(err))
		}
		return res
	}
	res.err = "status " + strconv.Itoa(resp.StatusCode)
	res.retryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
	return res
}

// classify maps a status to an outcome: 2xx delivered; 408, 429 and 5xx
// worth another try; anything else (other 4xx, an unfollowed 3xx) will not
// change by retrying.
func classify(status int) outcome {
	switch {
	case status >= 200 && status < 300:
		return outcomeDelivered
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests, status >= 500:
		return outcomeFailed
	default:
		return outcomeRejected
	}
}

// backoff is the wait after failed attempt number attempt (1-based):
// base·2^(attempt-1) capped at the maximum, with "equal jitter" (a random
// point in its upper half) so many routers do not retry in step. A
// Retry-After from the server wins when it is longer, still capped.
func (n *Notifier) backoff(attempt int, retryAfter time.Duration) time.Duration {
	d := n.set.backoffBase
	for i := 1; i < attempt && d < n.set.backoffMax; i++ {
		d *= 2
	}
	d = min(d, n.set.backoffMax)
	d = d/2 + rand.N(d/2+1)
	if retryAfter > d {
		d = min(retryAfter, n.set.backoffMax)
	}
	return d
}

// maxRetryAfter bounds a Retry-After in seconds before it becomes a
// Duration (it is capped at the backoff maximum afterwards anyway).
const maxRetryAfter = 24 * 60 * 60

// retryAfter parses a Retry-After header (seconds or an HTTP date); 0 if
// absent or unparsable.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(min(s, maxRetryAfter)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
