package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// Source is where the route follower reads what the leader decided
// (postgres.Store implements it).
type Source interface {
	LoadRoute(ctx context.Context, app string) (store.Route, error)
	LoadSlots(ctx context.Context, app string) ([]store.SlotState, error)
	// ListenRoutes calls fn with each revision saved from when ready is
	// called until ctx ends (nil) or the connection fails.
	ListenRoutes(ctx context.Context, app string, ready func(), fn func(rev int64)) error
}

// Registry is the instance registry (postgres.Store implements it).
type Registry interface {
	SaveInstance(ctx context.Context, app string, in store.Instance) error
	Instances(ctx context.Context, app string, within time.Duration) ([]store.Instance, error)
	PruneInstances(ctx context.Context, app string, age time.Duration) error
}

// Router is this process's data plane as the follower drives it.
type Router interface {
	SetRoute(live slot.Slot, weights map[slot.Slot]int) error
	SetBackends(s slot.Slot, addrs []string, inRotation bool)
}

// follower applies the stored route and slot backends to the router while
// this process does not lead (the controller does it while it leads).
type follower struct {
	app      string
	src      Source
	router   Router
	leading  func() bool
	log      *slog.Logger
	revision prometheus.Gauge

	mu        sync.Mutex // serialises apply: revisions in order
	rev       int64      // the newest revision applied (or, leading, seen)
	appliedAt time.Time
	backends  map[slot.Slot][]string
}

func newFollower(app string, src Source, r Router, leading func() bool, log *slog.Logger) *follower {
	return &follower{app: app, src: src, router: r, leading: leading, log: log,
		backends: map[slot.Slot][]string{},
		revision: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bluegreen_route_revision",
			Help: "Revision of the stored route table this instance's router applied.",
		})}
}

// applied is the newest revision applied and when.
func (f *follower) applied() (int64, time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rev, f.appliedAt
}

func (f *follower) revisionNow() int64 { rev, _ := f.applied(); return rev }

// listen applies each route announced by NOTIFY as it comes, reconnecting
// after a failure (the periodic read covers the gap), until ctx ends.
func (f *follower) listen(ctx context.Context, retry time.Duration) {
	for {
		err := f.src.ListenRoutes(ctx, f.app, func() {
			// Anything saved before the LISTEN began is read now.
			if err := f.readRoute(ctx); err != nil && ctx.Err() == nil {
				f.log.Debug("read route after listen", "error", err)
			}
		}, func(rev int64) {
			if rev <= f.revisionNow() {
				return
			}
			if err := f.readRoute(ctx); err != nil && ctx.Err() == nil {
				f.log.Warn("read the route announced", "rev", rev, "error", err)
			}
		})
		if ctx.Err() != nil {
			return
		}
		f.log.Debug("route notifications interrupted; listening again", "error", err, "retry_in", retry)
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry):
		}
	}
}

// read applies the stored route and, while not leading, the stored
// slots' backends (first: the ones already serving go in rotation at once).
func (f *follower) read(ctx context.Context, first bool) error {
	if err := f.readRoute(ctx); err != nil {
		return err
	}
	if f.leading() {
		// The controller sets the backends; after stepping down all are
		// applied again.
		f.mu.Lock()
		clear(f.backends)
		f.mu.Unlock()
		return nil
	}
	slots, err := f.src.LoadSlots(ctx, f.app)
	if err != nil {
		return err
	}
	f.applyBackends(slots, first)
	return nil
}

// readRoute applies the stored route if it is newer than the one applied.
// A follower first reads the slots too: a route that gives a slot traffic
// must find that slot's instances already in the router (the periodic
// read alone could be a second late, and every request to the slot in
// between a 503).
func (f *follower) readRoute(ctx context.Context) error {
	r, err := f.src.LoadRoute(ctx, f.app)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if r.Rev > f.revisionNow() && !f.leading() {
		if slots, err := f.src.LoadSlots(ctx, f.app); err == nil {
			f.applyBackends(slots, false)
		} else {
			f.log.Warn("read the slots with the route", "rev", r.Rev, "error", err)
		}
	}
	f.apply(r)
	return nil
}

// apply makes r the router's route if it is newer than the one applied;
// an older or equal revision is ignored, so the router never goes back.
func (f *follower) apply(r store.Route) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Rev <= f.rev {
		return
	}
	if !f.leading() { // the leader's controller applies its own routes
		if err := f.router.SetRoute(r.Live, r.Weights); err != nil {
			f.log.Error("apply the stored route", "rev", r.Rev, "live", r.Live, "weights", r.Weights, "error", err)
			return
		}
		f.log.Info("route applied", "rev", r.Rev, "live", r.Live, "weights", r.Weights,
			"behind_commit", time.Since(r.UpdatedAt).Round(time.Millisecond))
	}
	f.rev, f.appliedAt = r.Rev, time.Now()
	f.revision.Set(float64(r.Rev))
}

// applyBackends gives each slot the backends the store records for it
// (the driver's {"addrs": […]}), none for a slot stopped or never used.
// New backends of a slot the leader recorded running (it found them
// ready) go in rotation at once, as do all on the first read; the others
// wait for this router's own health checks.
func (f *follower) applyBackends(slots []store.SlotState, first bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	want := map[slot.Slot][]string{}
	running := map[slot.Slot]bool{}
	for _, s := range slots {
		running[s.Slot] = s.State == slot.Running
		if s.Version == "" || s.State == slot.Stopped {
			continue
		}
		var in struct {
			Addrs []string `json:"addrs"`
		}
		if len(s.Instances) > 0 && json.Unmarshal(s.Instances, &in) == nil {
			want[s.Slot] = in.Addrs
		}
	}
	for _, s := range slot.All() {
		addrs := want[s]
		if slices.Equal(addrs, f.backends[s]) && !first {
			continue
		}
		if len(addrs) == 0 && len(f.backends[s]) == 0 {
			continue
		}
		f.router.SetBackends(s, addrs, first || running[s])
		f.backends[s] = slices.Clone(addrs)
	}
}
