package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// Fence is the lease a controller writes under. The cluster's lease loop
// sets it when the lease is taken or renewed and drops it when the lease
// is lost; writes through a Fenced store carry its token. A write the
// database refuses is also reported on Refused, so the loop can step
// down at once.
type Fence struct {
	// TrustPastExpiry is for the fencing tests only (serve's
	// BLUEGREEN_FAULT_STALE_LEADER): the fence does not check its local
	// deadline, so a leader paused past its lease writes with its old
	// token and only the database refuses it.
	TrustPastExpiry bool

	mu    sync.Mutex
	lease store.Lease
	held  bool
	// until is when the lease ends by this process's monotonic clock,
	// counted from before the request that took or renewed it, so never
	// later than the database's expiry.
	until   time.Time
	refused chan *store.FencedError
}

// Hold makes l the lease writes carry, trusted locally until until.
func (f *Fence) Hold(l store.Lease, until time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lease, f.held, f.until = l, true, until
}

// Drop stops writes: the lease is lost or given up.
func (f *Fence) Drop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.held = false
}

// Refused delivers the database's refusals of writes under the fence
// (the latest one when several come before it is read).
func (f *Fence) Refused() <-chan *store.FencedError { return f.refusals() }

func (f *Fence) refusals() chan *store.FencedError {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refused == nil {
		f.refused = make(chan *store.FencedError, 1)
	}
	return f.refused
}

// refuse reports e on Refused without waiting.
func (f *Fence) refuse(e *store.FencedError) {
	ch := f.refusals()
	for {
		select {
		case ch <- e:
			return
		default:
		}
		select { // make room: the newest refusal is the one that matters
		case <-ch:
		default:
		}
	}
}

// current is the lease to write under, or store.ErrFenced when there is
// none or it has run out by the local clock.
func (f *Fence) current() (store.Lease, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case !f.held:
		return store.Lease{}, fmt.Errorf("%w (it is not the leader)", store.ErrFenced)
	case !f.TrustPastExpiry && !time.Now().Before(f.until):
		return store.Lease{}, fmt.Errorf("%w (token %d ran out %s ago, not renewed)",
			store.ErrFenced, f.lease.Token, time.Since(f.until).Round(time.Millisecond))
	}
	return f.lease, nil
}

// guard checks, inside a write's transaction, that the write may go
// ahead; nil lets every write through.
type guard func(ctx context.Context, tx pgx.Tx) error

func (g guard) check(ctx context.Context, tx pgx.Tx) error {
	if g == nil {
		return nil
	}
	return g(ctx, tx)
}

// check is the fence's guard: the lease row, taken FOR SHARE, must still
// name this holder and token and not have expired by the database's
// clock; otherwise store.ErrFenced says who holds it now.
func (f *Fence) check(ctx context.Context, tx pgx.Tx) error {
	l, err := f.current()
	if err != nil {
		return err
	}
	var (
		holder string
		token  int64
		valid  bool
	)
	err = tx.QueryRow(ctx, `
SELECT holder, token, expires_at > clock_timestamp() FROM bluegreen_leases WHERE app = $1 FOR SHARE`, l.App).
		Scan(&holder, &token, &valid)
	var refused *store.FencedError
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		refused = &store.FencedError{App: l.App, Token: l.Token}
	case err != nil:
		return fmt.Errorf("check lease of %s: %w", l.App, err)
	case holder != l.Holder || token != l.Token:
		refused = &store.FencedError{App: l.App, Token: l.Token, InForce: token, Holder: holder}
	case !valid:
		refused = &store.FencedError{App: l.App, Token: l.Token, InForce: token, Holder: holder, Expired: true}
	default:
		return nil
	}
	f.refuse(refused)
	return refused
}

// Fenced is the store as a controller uses it under a lease: the writes
// of the controller (route, slots, deployments) go through only while
// its Fence holds the lease in force, checked in each write's
// transaction; reads and the routers' own writes (MCP session pins) are
// not fenced.
type Fenced struct {
	*Store
	fence *Fence
}

var _ store.Store = (*Fenced)(nil)

// Fenced returns s with the controller's writes checked against fence.
func (s *Store) Fenced(fence *Fence) *Fenced { return &Fenced{Store: s, fence: fence} }

// SaveRoute is Store.SaveRoute under the fence.
func (f *Fenced) SaveRoute(ctx context.Context, app string, r store.Route) error {
	return f.saveRoute(ctx, app, r, f.fence.check)
}

// SaveSlot is Store.SaveSlot under the fence.
func (f *Fenced) SaveSlot(ctx context.Context, app string, sl store.SlotState) error {
	return f.saveSlot(ctx, app, sl, f.fence.check)
}

// CreateDeployment is Store.CreateDeployment under the fence.
func (f *Fenced) CreateDeployment(ctx context.Context, d *store.Deployment, first *store.Event) error {
	return f.createDeployment(ctx, d, first, f.fence.check)
}

// Transition is Store.Transition under the fence.
func (f *Fenced) Transition(ctx context.Context, d *store.Deployment, ev *store.Event) error {
	return f.transition(ctx, d, ev, f.fence.check)
}
