package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/bluegreen-dev/bluegreen/internal/analysis"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// Store is what a node needs of the shared state store; postgres.Store
// implements it.
type Store interface {
	Leases
	Source
	Registry
}

// Defaults for zero Options fields.
const (
	DefaultLeaseTTL     = 3 * time.Second
	DefaultSyncInterval = time.Second
	// seenWithin: an instance not seen for this long is left out of status.
	seenWithin = 30 * time.Second
	// pruneAfter: an instance not seen for this long is deleted.
	pruneAfter = time.Hour
)

// Options configure a Node. App, Store, Fence and Router are required.
type Options struct {
	App    string
	Store  Store
	Fence  Fence
	Router Router
	// ID names this process in the registry and the lease; "" gives
	// hostname-pid-random (a restarted process is a new instance).
	ID string
	// Admin and Production are this process's listener addresses as the
	// other instances reach them (forwarded commands go to Admin).
	Admin, Production string
	// Counts, if set, gives the router's cumulative per-slot counts (JSON)
	// for the heartbeat; the leader sums every instance's.
	Counts func() []byte

	// LeaseTTL is how long a lease lasts unless renewed (DefaultLeaseTTL);
	// it is renewed every LeaseTTL/3 and tried for every LeaseTTL/6.
	LeaseTTL time.Duration
	// SyncInterval is how often the stored route and slots are read and
	// the heartbeat written (DefaultSyncInterval).
	SyncInterval time.Duration

	// TrustPastExpiry is for the fencing tests only (serve's
	// BLUEGREEN_FAULT_STALE_LEADER; set the Fence's too): a leader that
	// finds its lease ran out by its own clock (it was paused past it)
	// goes on leading for one more LeaseTTL before it asks to renew, so
	// that its writes reach the database with the old token and are
	// refused there.
	TrustPastExpiry bool

	Logger   *slog.Logger
	Registry prometheus.Registerer
}

// Node is one serve process in a cluster sharing a state store.
type Node struct {
	app      string
	id       string
	admin    string
	prod     string
	store    Store
	el       *elector
	follow   *follower
	countsOf func() []byte
	sync     time.Duration
	log      *slog.Logger

	connected prometheus.Gauge
	leaderG   prometheus.Gauge

	mu        sync.Mutex
	degraded  bool
	lastErr   string
	instances []store.Instance // from the newest heartbeat, seen lately
	// counts are every instance's counts from the newest heartbeat
	// (stopped ones included), by ID.
	counts  map[string]map[slot.Slot]analysis.Measurement
	started time.Time
}

// New checks opts and returns a Node; call Sync before serving, then Run.
func New(opts Options) (*Node, error) {
	switch {
	case opts.App == "":
		return nil, errors.New("new cluster node: empty app name")
	case opts.Store == nil || opts.Fence == nil || opts.Router == nil:
		return nil, fmt.Errorf("new cluster node for %s: store, fence and router are required", opts.App)
	case opts.LeaseTTL < 0 || opts.SyncInterval < 0:
		return nil, fmt.Errorf("new cluster node for %s: negative interval", opts.App)
	}
	id := opts.ID
	if id == "" {
		id = newID()
	}
	ttl := orDefault(opts.LeaseTTL, DefaultLeaseTTL)
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("app", opts.App, "instance", id)
	n := &Node{
		app: opts.App, id: id, admin: opts.Admin, prod: opts.Production, store: opts.Store,
		countsOf: opts.Counts, sync: orDefault(opts.SyncInterval, DefaultSyncInterval), log: log,
		started: time.Now().UTC(),
		el: &elector{leases: opts.Store, fence: opts.Fence, app: opts.App, id: id,
			ttl: ttl, renew: ttl / 3, retry: ttl / 6, trustPastExpiry: opts.TrustPastExpiry, log: log},
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bluegreen_state_connected",
			Help: "1 while the shared state store answers this instance, 0 while it serves with the last route it knew.",
		}),
		leaderG: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bluegreen_cluster_leader",
			Help: "1 while this instance holds the controller lease and runs the controller.",
		}),
	}
	n.follow = newFollower(opts.App, opts.Store, opts.Router, n.el.leader.Load, log)
	n.connected.Set(1)
	if opts.Registry != nil {
		for _, c := range []prometheus.Collector{n.connected, n.leaderG, n.follow.revision} {
			if err := opts.Registry.Register(c); err != nil {
				return nil, fmt.Errorf("new cluster node for %s: register metrics: %w", opts.App, err)
			}
		}
	}
	return n, nil
}

// newID is hostname-pid-random.
func newID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "bluegreen"
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Advertise sets the listener addresses the heartbeat records (known once
// the listeners are bound).
func (n *Node) Advertise(admin, production string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.admin, n.prod = admin, production
}

// ID is this process's instance ID.
func (n *Node) ID() string { return n.id }

// Leader reports whether this process holds the controller lease.
func (n *Node) Leader() bool { return n.el.leader.Load() }

// Sync applies the stored route and slots to the router once (before the
// listeners open; backends already serving go into rotation at once).
func (n *Node) Sync(ctx context.Context) error {
	return n.follow.read(ctx, true)
}

// Run runs the node until ctx ends: the elector (running lead while this
// process leads), the route follower and the heartbeat. It returns nil
// when ctx ends, once lead has returned.
func (n *Node) Run(ctx context.Context, lead func(ctx context.Context) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return n.el.run(ctx, lead) })
	g.Go(func() error { n.follow.listen(ctx, n.sync); return nil })
	g.Go(func() error { n.beat(ctx); return nil })
	return g.Wait()
}

// beat reads the stored route and slots and writes the heartbeat every
// sync interval until ctx ends.
func (n *Node) beat(ctx context.Context) {
	t := time.NewTicker(n.sync)
	defer t.Stop()
	prune := 0
	for first := true; ; first = false {
		if !first {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
		err := n.follow.read(ctx, false)
		if err == nil {
			err = n.heartbeat(ctx)
		}
		if prune++; err == nil && prune%600 == 0 {
			if perr := n.store.PruneInstances(ctx, n.app, pruneAfter); perr != nil {
				n.log.Warn("prune instances", "error", perr)
			}
		}
		if ctx.Err() != nil {
			return
		}
		n.setDegraded(err)
	}
}

// heartbeat writes this instance's row and reads everyone's.
func (n *Node) heartbeat(ctx context.Context) error {
	rev, _ := n.follow.applied()
	n.mu.Lock()
	in := store.Instance{ID: n.id, Admin: n.admin, Production: n.prod, RouteRev: rev, Leader: n.Leader()}
	n.mu.Unlock()
	if n.countsOf != nil {
		in.Counts = n.countsOf()
	}
	if err := n.store.SaveInstance(ctx, n.app, in); err != nil {
		return err
	}
	all, err := n.store.Instances(ctx, n.app, 0)
	if err != nil {
		return err
	}
	counts := make(map[string]map[slot.Slot]analysis.Measurement, len(all))
	var list []store.Instance
	var newestAll time.Time
	for _, in := range all {
		if in.LastSeen.After(newestAll) {
			newestAll = in.LastSeen
		}
	}
	for _, in := range all {
		if c := decodeCounts(in.Counts); c != nil {
			counts[in.ID] = c
		}
		if in.LastSeen.After(newestAll.Add(-seenWithin)) {
			list = append(list, in)
		}
	}
	// A leader that stopped heartbeating (killed) is not the leader any
	// more, whatever its last row says.
	var newest time.Time
	for _, in := range list {
		if in.LastSeen.After(newest) {
			newest = in.LastSeen
		}
	}
	for i := range list {
		if list[i].LastSeen.Before(newest.Add(-3 * n.sync)) {
			list[i].Leader = false
		}
	}
	n.mu.Lock()
	n.instances, n.counts = list, counts
	n.mu.Unlock()
	return nil
}

// setDegraded records whether the last round with the store failed, and
// logs the changes.
func (n *Node) setDegraded(err error) {
	n.mu.Lock()
	was := n.degraded
	n.degraded = err != nil
	n.lastErr = ""
	if err != nil {
		n.lastErr = err.Error()
	}
	n.mu.Unlock()
	n.leaderG.Set(boolGauge(n.Leader()))
	n.connected.Set(boolGauge(err == nil))
	switch {
	case err != nil && !was:
		n.log.Error("degraded: the state store does not answer; serving with the last route known", "error", err)
	case err == nil && was:
		n.log.Info("state store reachable again; caught up", "route_rev", n.follow.revisionNow())
	}
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
