package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// Leases is the store's controller lease (postgres.Store implements it).
type Leases interface {
	AcquireLease(ctx context.Context, app, holder string, ttl time.Duration) (store.Lease, error)
	RenewLease(ctx context.Context, l store.Lease, ttl time.Duration) (store.Lease, error)
	ReleaseLease(ctx context.Context, l store.Lease) error
}

// Fence is what the controller's writes carry (postgres.Fence implements
// it): the lease in force and until when this process trusts it; Refused
// tells of each write the database refused because the lease is no
// longer the one in force.
type Fence interface {
	Hold(l store.Lease, until time.Time)
	Drop()
	Refused() <-chan *store.FencedError
}

// releaseTimeout bounds giving the lease back at a clean stop.
const releaseTimeout = 2 * time.Second

// elector campaigns for one app's controller lease and runs lead while it
// holds it.
type elector struct {
	leases       Leases
	fence        Fence
	app, id      string
	ttl          time.Duration
	renew, retry time.Duration
	// trustPastExpiry: see Options.TrustPastExpiry (tests only).
	trustPastExpiry bool
	log             *slog.Logger

	leader atomic.Bool
	token  atomic.Int64
	// terms counts the terms begun (tests and status).
	terms atomic.Int64
}

// run campaigns until ctx ends. It returns nil when ctx ends, once lead
// has returned and the lease is given back.
func (e *elector) run(ctx context.Context, lead func(ctx context.Context) error) error {
	for {
		l, until, ok := e.acquire(ctx)
		if !ok {
			return nil
		}
		e.term(ctx, l, until, lead)
		if ctx.Err() != nil {
			return nil
		}
		// Let another instance take over after a term that ended on its own.
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(e.retry):
		}
	}
}

// acquire tries for the lease every retry interval until it gets it (ok)
// or ctx ends. until is when the lease runs out by the local clock,
// counted from before the request.
func (e *elector) acquire(ctx context.Context) (l store.Lease, until time.Time, ok bool) {
	for {
		start := time.Now()
		l, err := e.leases.AcquireLease(ctx, e.app, e.id, e.ttl)
		if err == nil {
			return l, start.Add(e.ttl), true
		}
		if ctx.Err() != nil {
			return store.Lease{}, time.Time{}, false
		}
		if !errors.Is(err, store.ErrLeaseHeld) {
			e.log.Warn("cannot reach the state store to take the controller lease; retrying", "error", err, "retry_in", e.retry)
		}
		select {
		case <-ctx.Done():
			return store.Lease{}, time.Time{}, false
		case <-time.After(e.retry):
		}
	}
}

// term is one term as leader: hold the fence, run lead, renew the lease
// every renew interval until it is lost, runs out, lead returns or ctx
// ends; then drop the fence, stop lead and wait for it, and give the
// lease back unless it was lost.
func (e *elector) term(ctx context.Context, l store.Lease, until time.Time, lead func(ctx context.Context) error) {
	e.fence.Hold(l, until)
	e.token.Store(l.Token)
	e.leader.Store(true)
	e.terms.Add(1)
	e.log.Info("leading: took the controller lease", "token", l.Token, "ttl", e.ttl)

	leadCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	done := make(chan error, 1)
	go func() { done <- lead(leadCtx) }()
	t := time.NewTicker(e.renew)
	defer t.Stop()
	lost := false
	var why error
	var graceUntil time.Time // trustPastExpiry: no renewal before
	for why == nil {
		select {
		case r := <-e.fence.Refused():
			if r.Token != l.Token {
				continue // a write of an earlier term
			}
			lost, why = true, r
			e.log.Warn(refusedMessage(r), "token", r.Token, "in_force", r.InForce, "holder", r.Holder)
			continue
		case <-ctx.Done():
			why = errors.New("bluegreen is stopping")
			continue
		case err := <-done:
			done = nil
			why = fmt.Errorf("the controller stopped: %w", err)
			if err == nil {
				why = errors.New("the controller stopped")
			}
			continue
		case <-t.C:
		}
		start := time.Now()
		deadline := until // never wait past the lease
		if e.trustPastExpiry && !start.Before(until) {
			if graceUntil.IsZero() {
				graceUntil = start.Add(e.ttl)
				e.log.Warn("fault injection: the controller lease ran out by this process's clock; leading on without renewing",
					"token", l.Token, "for", e.ttl)
			}
			if start.Before(graceUntil) {
				continue
			}
			deadline = start.Add(e.ttl)
		}
		rctx, cancel := context.WithDeadline(ctx, deadline)
		nl, err := e.leases.RenewLease(rctx, l, e.ttl)
		cancel()
		switch {
		case err == nil:
			l, until = nl, start.Add(e.ttl)
			e.fence.Hold(l, until)
		case errors.Is(err, store.ErrFenced):
			lost, why = true, err
		case e.trustPastExpiry && !graceUntil.IsZero():
			lost, why = true, fmt.Errorf("lease token %d could not be renewed after it ran out: %w", l.Token, err)
		case !time.Now().Before(until):
			lost, why = true, fmt.Errorf("lease token %d ran out before it could be renewed: %w", l.Token, err)
		case ctx.Err() == nil:
			e.log.Warn("renew the controller lease failed; retrying until it runs out", "token", l.Token, "error", err,
				"left", time.Until(until).Round(time.Millisecond))
		}
	}
	// Stop acting first: no write goes through from here on.
	e.fence.Drop()
	e.leader.Store(false)
	stop(why)
	if done != nil {
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			e.log.Error("controller stopped with an error", "error", err)
		}
	}
	if lost {
		e.log.Warn("stepped down: lost the controller lease", "token", l.Token, "why", why)
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	if err := e.leases.ReleaseLease(rctx, l); err != nil {
		e.log.Warn("give back the controller lease failed; it runs out by itself", "token", l.Token, "error", err)
		return
	}
	e.log.Info("stepped down: gave back the controller lease", "token", l.Token, "why", why)
}

// refusedMessage is the log line of a write the database refused: this
// instance is a stale leader.
func refusedMessage(r *store.FencedError) string {
	switch {
	case r.InForce > r.Token:
		return fmt.Sprintf("write refused: this instance is no longer the leader (fencing token %d < %d); stepping down", r.Token, r.InForce)
	case r.Expired:
		return fmt.Sprintf("write refused: this instance is no longer the leader (fencing token %d expired in the database); stepping down", r.Token)
	}
	return fmt.Sprintf("write refused: this instance is no longer the leader (%v); stepping down", r)
}
