package router

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"time"
)

// SessionPin is one MCP session pin as the store keeps it.
type SessionPin struct {
	// ID is the Mcp-Session-Id.
	ID   string
	Slot Slot
	// Instance is the address of the instance holding the session; ""
	// pins it to any instance of Slot.
	Instance string
	// LastUsed is when the session was last seen, to within the refresh
	// interval of the write-behind.
	LastUsed time.Time
}

// SessionStore keeps the session table across restarts of the router
// (Options.SessionStore). The router calls it from its write-behind loop
// only, never on the request path, with at most sessionFlushBatch pins or
// ids per call.
type SessionStore interface {
	SaveSessionPins(ctx context.Context, pins []SessionPin) error
	DeleteSessionPins(ctx context.Context, ids []string) error
}

// Write-behind of the session table.
const (
	// sessionFlushInterval is how often queued changes are written.
	sessionFlushInterval = time.Second
	// sessionFlushBatch bounds one store call; a full batch is written
	// without waiting for the interval.
	sessionFlushBatch = 500
	// sessionWriteTimeout bounds one store call, and the last flush at
	// shutdown.
	sessionWriteTimeout = 10 * time.Second
)

// pinChange is one queued change: a pin to save, or an id to delete.
type pinChange struct {
	del bool
	pin SessionPin
}

// pinQueue holds the session table's changes not yet written, one per
// session id (a later change replaces an earlier one). It is guarded by
// the table's mutex, and bounded: a change beyond max is dropped and
// counted (a pin not saved is lost if the router restarts; a delete not
// written leaves a pin that the next start drops or the server's 404 ends).
type pinQueue struct {
	// refresh is how stale a stored LastUsed may get: a pin used again is
	// queued only once its stored LastUsed is older than this.
	refresh time.Duration
	max     int
	pending map[string]pinChange
	ready   chan struct{} // a batch is full
	dropped atomic.Int64
	failed  atomic.Int64 // store calls that failed
}

func newPinQueue(ttl time.Duration, maxPins int) *pinQueue {
	return &pinQueue{
		refresh: min(max(ttl/8, time.Second), 5*time.Minute),
		max:     2 * maxPins,
		pending: make(map[string]pinChange),
		ready:   make(chan struct{}, 1),
	}
}

func (q *pinQueue) save(p *sessionPin) {
	sp := SessionPin{ID: p.id, Slot: allSlots()[p.slot], LastUsed: p.lastUsed}
	if p.b != nil {
		sp.Instance = p.b.addr
	}
	q.put(p.id, pinChange{pin: sp})
}

func (q *pinQueue) remove(id string) { q.put(id, pinChange{del: true}) }

func (q *pinQueue) put(id string, c pinChange) {
	if _, ok := q.pending[id]; !ok && len(q.pending) >= q.max {
		q.dropped.Add(1)
		return
	}
	q.pending[id] = c
	if len(q.pending) >= sessionFlushBatch {
		select {
		case q.ready <- struct{}{}:
		default:
		}
	}
}

// take returns the queued changes and empties the queue.
func (t *sessionTable) take() map[string]pinChange {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := t.wb.pending
	t.wb.pending = make(map[string]pinChange, len(out))
	return out
}

// requeue puts back changes a failed write did not store, unless a newer
// change of the same session came meanwhile.
func (t *sessionTable) requeue(changes []pinChange, ids []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range changes {
		if _, newer := t.wb.pending[c.pin.ID]; !newer {
			t.wb.put(c.pin.ID, c)
		}
	}
	for _, id := range ids {
		if _, newer := t.wb.pending[id]; !newer {
			t.wb.put(id, pinChange{del: true})
		}
	}
}

// persistSessions writes the session table's changes to st every
// sessionFlushInterval, or sooner when a batch is full, until ctx ends;
// then it writes what is left, within sessionWriteTimeout.
func (r *Router) persistSessions(ctx context.Context, st SessionStore) {
	t := time.NewTicker(sessionFlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sessionWriteTimeout)
			defer cancel()
			r.flushSessions(fctx, st)
			return
		case <-t.C:
		case <-r.sessions.wb.ready:
		}
		r.flushSessions(ctx, st)
	}
}

// flushSessions writes the queued changes in batches. A failed batch is
// queued again (and logged) for the next flush.
func (r *Router) flushSessions(ctx context.Context, st SessionStore) {
	changes := r.sessions.take()
	if len(changes) == 0 {
		return
	}
	var (
		saves []pinChange
		dels  []string
	)
	for id, c := range changes {
		if c.del {
			dels = append(dels, id)
		} else {
			saves = append(saves, c)
		}
	}
	var errs []error
	for batch := range slices.Chunk(saves, sessionFlushBatch) {
		pins := make([]SessionPin, len(batch))
		for i, c := range batch {
			pins[i] = c.pin
		}
		if err := r.storeCall(ctx, func(ctx context.Context) error { return st.SaveSessionPins(ctx, pins) }); err != nil {
			errs = append(errs, err)
			r.sessions.requeue(batch, nil)
		}
	}
	for batch := range slices.Chunk(dels, sessionFlushBatch) {
		if err := r.storeCall(ctx, func(ctx context.Context) error { return st.DeleteSessionPins(ctx, batch) }); err != nil {
			errs = append(errs, err)
			r.sessions.requeue(nil, batch)
		}
	}
	if err := errors.Join(errs...); err != nil {
		r.sessions.wb.failed.Add(int64(len(errs)))
		r.log.Warn("save mcp session pins failed; will retry", keyError, err, "saves", len(saves), "deletes", len(dels))
		return
	}
	r.log.Debug("mcp session pins saved", "saves", len(saves), "deletes", len(dels))
}

func (r *Router) storeCall(ctx context.Context, f func(context.Context) error) error {
	cctx, cancel := context.WithTimeout(ctx, sessionWriteTimeout)
	defer cancel()
	return f(cctx)
}

// RestoredSessions counts what RestoreSessions did with the pins it got.
type RestoredSessions struct {
	// Instance: pinned again to their instance, which is in its pool.
	Instance int
	// Slot: their instance is not in the pool any more, but their slot
	// has instances; pinned to the slot (any instance of it).
	Slot int
	// Dropped: expired, of an invalid slot, of a slot without instances,
	// or beyond the table's bound (the least recently used); deleted from
	// the store by the write-behind.
	Dropped int
}

// RestoreSessions puts pins loaded from the store into the session table
// (with Options.MCPSessions; otherwise it does nothing). Call it when the
// pools are set (SetBackends) and before serving. A pin whose instance is
// in its slot's pool goes back to that instance; one whose instance is
// gone goes to its slot when the slot has instances (a server that keeps
// sessions outside its memory serves it there; one that does not answers
// 404 and the client starts over); others are dropped.
//
// since is when the route table in force was set (zero: unknown): a slot
// without production weight counts its session drain from then, so a
// restart does not extend it.
func (r *Router) RestoreSessions(pins []SessionPin, since time.Time) RestoredSessions {
	var out RestoredSessions
	t := r.sessions
	if t == nil {
		return out
	}
	// Oldest first: each insertion goes to the front of the LRU list, and
	// beyond the bound the oldest are evicted.
	pins = slices.SortedStableFunc(slices.Values(pins), func(a, b SessionPin) int { return a.LastUsed.Compare(b.LastUsed) })
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if w := r.table.Load().weights; !since.IsZero() {
		for i := range numSlots {
			if w[i] == 0 && (t.drainSince[i].IsZero() || since.Before(t.drainSince[i])) {
				t.drainSince[i] = since
			}
		}
	}
	drop := func(id string) {
		out.Dropped++
		if t.wb != nil {
			t.wb.remove(id)
		}
	}
	for k, p := range pins {
		i := p.Slot.Index()
		if i < 0 || p.ID == "" || now.Sub(p.LastUsed) >= t.ttl || len(pins)-k > t.max {
			drop(p.ID)
			continue
		}
		if _, ok := t.pins[p.ID]; ok {
			continue // pinned since start: newer
		}
		s := &r.slots[i]
		var b *backend
		for _, c := range s.pool.all() {
			if c.addr == p.Instance && !c.gone.Load() {
				b = c
				break
			}
		}
		if b == nil {
			if _, total := s.pool.counts(); total == 0 {
				drop(p.ID)
				continue
			}
		}
		np := t.insertLocked(p.ID, i, b, p.LastUsed)
		if b != nil {
			out.Instance++
			continue
		}
		out.Slot++
		if t.wb != nil && p.Instance != "" {
			t.saveLocked(np) // the store still names the old instance
		}
	}
	r.log.Info("mcp sessions restored", "instance", out.Instance, "slot", out.Slot, "dropped", out.Dropped)
	return out
}

// AdoptSessions puts into the session table the pins other routers
// sharing the store wrote (a cluster of serve processes reads the shared
// table every sync interval), so that a session pinned by router A is
// honoured by this one. A pin already in the table is kept (this
// router's own is as new or newer); an expired one, one of an invalid
// slot, or one whose slot has no instance here is skipped. Nothing is
// written back to the store: the pin belongs to the router that wrote
// it. It returns how many pins it adopted.
func (r *Router) AdoptSessions(pins []SessionPin) int {
	t := r.sessions
	if t == nil {
		return 0
	}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, p := range pins {
		i := p.Slot.Index()
		if i < 0 || p.ID == "" || now.Sub(p.LastUsed) >= t.ttl {
			continue
		}
		if _, ok := t.pins[p.ID]; ok {
			continue
		}
		s := &r.slots[i]
		var b *backend
		for _, c := range s.pool.all() {
			if c.addr == p.Instance && !c.gone.Load() {
				b = c
				break
			}
		}
		if b == nil {
			if _, total := s.pool.counts(); total == 0 {
				continue
			}
		}
		t.insertLocked(p.ID, i, b, p.LastUsed)
		n++
	}
	if n > 0 {
		r.log.Debug("mcp sessions adopted from the shared table", keyCount, n)
	}
	return n
}
