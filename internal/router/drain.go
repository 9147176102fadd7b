package router

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// ErrDrainTimeout is the cause of requests cancelled because their slot
// lost production traffic and they were still running at the drain
// deadline.
var ErrDrainTimeout = errors.New("drain timeout")

// cancelError marks a cancellation cause as the router's own (drain or
// shutdown), as opposed to the client going away.
type cancelError struct{ err error }

func (e *cancelError) Error() string { return e.err.Error() }
func (e *cancelError) Unwrap() error { return e.err }

// cancelledByRouter reports whether ctx was cancelled by a drain or
// CancelAll.
func cancelledByRouter(ctx context.Context) bool {
	if ctx.Err() == nil {
		return false
	}
	var ce *cancelError
	return errors.As(context.Cause(ctx), &ce)
}

// epoch groups the requests that may be cancelled together: every request
// registers on the current epoch of its slot when it starts. A drain
// retires the current epoch (requests that start later get a new one) and
// cancels the retired ones at the deadline.
//
// The running requests are kept in an intrusive list of their cancel
// functions rather than as children of a per-epoch context: registering
// costs one small allocation and a short critical section, where
// context.AfterFunc costs three allocations and a map insertion.
type epoch struct {
	inflight atomic.Int64

	mu    sync.Mutex
	head  *epochReq // running requests, most recent first
	cause error     // set once by cancel; later registrations are cancelled at once
}

// epochReq is one request registered on an epoch.
type epochReq struct {
	prev, next *epochReq
	cancel     context.CancelCauseFunc
	// ender, once the response turned out to be a stream (SSE,
	// WebSocket), ends it cleanly in place of cancel. Written under the
	// epoch's mu before the epoch is cancelled, read after.
	ender streamEnder
}

func newEpoch() *epoch { return &epoch{} }

// register adds a request whose context cancel cancels, and returns the
// handle to pass to unregister. A request registering on an epoch that was
// already cancelled is cancelled at once with the epoch's cause.
func (e *epoch) register(cancel context.CancelCauseFunc) *epochReq {
	req := &epochReq{cancel: cancel}
	e.inflight.Add(1)
	e.mu.Lock()
	if cause := e.cause; cause != nil {
		e.mu.Unlock()
		cancel(cause)
		return req
	}
	req.next = e.head
	if e.head != nil {
		e.head.prev = req
	}
	e.head = req
	e.mu.Unlock()
	return req
}

// unregister removes a request that has finished.
func (e *epoch) unregister(req *epochReq) {
	e.mu.Lock()
	// After cancel the list is gone; req is no longer linked.
	if e.cause == nil {
		if req.prev != nil {
			req.prev.next = req.next
		} else {
			e.head = req.next
		}
		if req.next != nil {
			req.next.prev = req.prev
		}
		req.prev, req.next = nil, nil
	}
	e.mu.Unlock()
	e.inflight.Add(-1)
}

// setEnder makes the cancellation of req end its stream with se instead of
// cancelling its context. It reports false, and does nothing, when the
// epoch was already cancelled.
func (e *epoch) setEnder(req *epochReq, se streamEnder) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cause != nil {
		return false
	}
	req.ender = se
	return true
}

// cancel cancels every request of the epoch, and every request that
// registers later, with cause; a stream is ended by its ender. Only the
// first call has an effect.
func (e *epoch) cancel(cause error) {
	e.mu.Lock()
	if e.cause != nil {
		e.mu.Unlock()
		return
	}
	e.cause = cause
	head := e.head
	e.head = nil
	e.mu.Unlock()
	// The detached list is only read here: unregister leaves it alone
	// once cause is set. Cancelling a request that has just finished is
	// harmless.
	for req := head; req != nil; req = req.next {
		if req.ender != nil {
			req.ender.endStream(cause)
			continue
		}
		req.cancel(cause)
	}
}

// cancelled returns the cause the epoch was cancelled with, or nil.
func (e *epoch) cancelled() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cause
}

// drainState is the drain bookkeeping of one slot.
type drainState struct {
	// production is the epoch new production requests register on.
	production atomic.Pointer[epoch]
	// preview is the epoch of preview requests: never drained by a switch,
	// only cancelled by CancelAll.
	preview atomic.Pointer[epoch]

	mu       sync.Mutex
	retired  []*epoch // production epochs waiting for the deadline
	timer    stopper  // nil when no drain is pending
	gen      uint64   // bumped whenever a pending drain is replaced or cancelled
	deadline time.Time
}

func (d *drainState) init() {
	d.production.Store(newEpoch())
	d.preview.Store(newEpoch())
}

// retiredInflight counts the requests still running in retired epochs.
func (d *drainState) retiredInflightLocked() int64 {
	var n int64
	for _, e := range d.retired {
		n += e.inflight.Load()
	}
	return n
}

// startDrain is called when s lost all production traffic: requests already
// running keep running until the drain deadline, then are cancelled.
func (r *Router) startDrain(s *slotState) {
	d := &s.drain
	d.mu.Lock()
	defer d.mu.Unlock()

	// Requests that started before this switch, including those kept from
	// an earlier drain that was cancelled, are now due at one deadline.
	kept := d.retired[:0]
	for _, e := range d.retired {
		if e.inflight.Load() > 0 {
			kept = append(kept, e)
		}
	}
	d.retired = append(kept, d.production.Swap(newEpoch()))
	if d.timer != nil {
		d.timer.Stop()
	}
	d.gen++
	gen := d.gen
	d.deadline = time.Now().Add(r.drainTimeout)
	d.timer = r.afterFunc(r.drainTimeout, func() { r.expireDrain(s, gen) })
	r.log.Info("slot lost production traffic; draining",
		keySlot, s.slot, keyCount, d.retiredInflightLocked(), keyDeadline, d.deadline)
}

// stopDrain is called when s regained production traffic: a pending drain
// is cancelled and its requests run on. They stay retired, so a later
// switch away drains them again.
func (r *Router) stopDrain(s *slotState) {
	d := &s.drain
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer == nil {
		return
	}
	d.timer.Stop()
	d.timer = nil
	d.gen++
	d.deadline = time.Time{}
	r.log.Info("slot regained production traffic; drain cancelled",
		keySlot, s.slot, keyCount, d.retiredInflightLocked())
}

// stopDrainTimer stops s's pending drain deadline without cancelling its
// requests: the router stops (Run returned) and nothing is left to act at
// the deadline.
func (r *Router) stopDrainTimer(s *slotState) {
	d := &s.drain
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
		d.gen++
	}
}

// expireDrain runs at the drain deadline: it cancels every request of the
// retired epochs, unless the drain it belongs to (gen) was cancelled or
// replaced meanwhile.
func (r *Router) expireDrain(s *slotState, gen uint64) {
	d := &s.drain
	d.mu.Lock()
	if gen != d.gen {
		d.mu.Unlock()
		return
	}
	retired := d.retired
	count := d.retiredInflightLocked()
	d.retired = nil
	d.timer = nil
	d.deadline = time.Time{}
	d.mu.Unlock()

	cause := &cancelError{fmt.Errorf("drain slot %s: %w: still running %s after it lost production traffic",
		s.slot, ErrDrainTimeout, r.drainTimeout)}
	for _, e := range retired {
		e.cancel(cause)
	}
	if count == 0 {
		r.log.Info("drain deadline reached; no request was left to cancel", keySlot, s.slot)
		return
	}
	r.log.Warn("drain deadline reached; cancelled in-flight requests",
		keySlot, s.slot, keyCount, count, keyCause, cause.Error())
}

// cancelAll cancels every request on s, production and preview, retired or
// not, with cause. Requests that start afterwards run normally.
func (r *Router) cancelAll(s *slotState, cause error) {
	d := &s.drain
	d.mu.Lock()
	epochs := append(d.retired,
		d.production.Swap(newEpoch()),
		d.preview.Swap(newEpoch()))
	d.retired = nil
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	d.gen++
	d.deadline = time.Time{}
	d.mu.Unlock()

	var count int64
	for _, e := range epochs {
		count += e.inflight.Load()
	}
	ce := &cancelError{fmt.Errorf("cancel requests on slot %s: %w", s.slot, cause)}
	for _, e := range epochs {
		e.cancel(ce)
	}
	r.log.Info("cancelled in-flight requests", keySlot, s.slot, keyCount, count, keyCause, ce.Error())
}

// drainStatus reports whether s is draining, until when, and how many
// requests it is waiting for.
func (d *drainState) status() (draining bool, deadline time.Time, waiting int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	waiting = d.retiredInflightLocked()
	return d.timer != nil, d.deadline, waiting
}
