package cluster

import (
	"context"
	"errors"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bluegreen-dev/bluegreen/internal/pgtest"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store"
	"github.com/bluegreen-dev/bluegreen/internal/store/postgres"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// fakeRouter records the routes and backends a node applies.
type fakeRouter struct {
	mu       sync.Mutex
	routes   []map[slot.Slot]int
	backends map[slot.Slot][]string
	changed  chan struct{}
}

func newFakeRouter() *fakeRouter {
	return &fakeRouter{backends: map[slot.Slot][]string{}, changed: make(chan struct{}, 100)}
}

func (r *fakeRouter) SetRoute(_ slot.Slot, w map[slot.Slot]int) error {
	r.mu.Lock()
	r.routes = append(r.routes, maps.Clone(w))
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
	return nil
}

func (r *fakeRouter) SetBackends(s slot.Slot, addrs []string, _ bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.backends[s] = addrs
}

func (r *fakeRouter) greens() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int
	for _, w := range r.routes {
		out = append(out, w[slot.Green])
	}
	return out
}

// node is one cluster member in a test: its store, fence, router and the
// terms it led.
type node struct {
	*Node
	st     *postgres.Store
	fenced *postgres.Fenced
	router *fakeRouter
	cancel context.CancelFunc
	done   chan error
	leads  chan context.Context // a term begins
}

func openStore(t *testing.T, url string) *postgres.Store {
	t.Helper()
	st, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// start runs a node on url with short intervals; lead records each term
// and holds until the term ends.
func start(t *testing.T, url, id string) *node {
	t.Helper()
	return startTTL(t, url, id, 600*time.Millisecond)
}

// startTTL is start with a lease of ttl.
func startTTL(t *testing.T, url, id string, ttl time.Duration) *node {
	t.Helper()
	st := openStore(t, url)
	fence := &postgres.Fence{}
	n := &node{st: st, fenced: st.Fenced(fence), router: newFakeRouter(), done: make(chan error, 1),
		leads: make(chan context.Context, 10)}
	var err error
	n.Node, err = New(Options{App: "shop", Store: st, Fence: fence, Router: n.router, ID: id,
		Admin: id + ":9090", LeaseTTL: ttl, SyncInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Sync(t.Context()); err != nil {
		t.Fatalf("sync %s: %v", id, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go func() {
		n.done <- n.Run(ctx, func(ctx context.Context) error {
			n.leads <- ctx
			<-ctx.Done()
			return nil
		})
	}()
	t.Cleanup(n.stop)
	return n
}

func (n *node) stop() {
	n.cancel()
	<-n.done
	n.done <- nil // stop is idempotent
}

// waitLeader waits until exactly one of nodes leads and returns it.
func waitLeader(t *testing.T, nodes ...*node) *node {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		var leaders []*node
		for _, n := range nodes {
			if n.Leader() {
				leaders = append(leaders, n)
			}
		}
		if len(leaders) == 1 {
			return leaders[0]
		}
		if len(leaders) > 1 {
			t.Fatalf("%d nodes lead at once", len(leaders))
		}
		select {
		case <-deadline:
			t.Fatal("no node took the lease")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestOneLeaderThenFailover(t *testing.T) {
	url := pgtest.URL(t)
	a, b, c := start(t, url, "a"), start(t, url, "b"), start(t, url, "c")
	first := waitLeader(t, a, b, c)
	ctx := <-first.leads
	first.stop()
	if ctx.Err() == nil {
		t.Fatal("the stopped leader's term did not end")
	}
	var rest []*node
	for _, n := range []*node{a, b, c} {
		if n != first {
			rest = append(rest, n)
		}
	}
	second := waitLeader(t, rest...)
	if second == first {
		t.Fatal("the stopped node leads")
	}
	l, err := second.st.Lease(t.Context(), "shop")
	if err != nil || l.Holder != second.ID() || l.Token != 2 {
		t.Errorf("lease = %+v, %v; want token 2 held by %s", l, err, second.ID())
	}
}

// TestLostLeaseEndsTerm: when the database's lease runs out and another
// instance takes it (this one was paused, or cut off), the term ends, the
// fence refuses writes and the new leader's writes go through.
func TestLostLeaseEndsTerm(t *testing.T) {
	url := pgtest.URL(t)
	a := start(t, url, "a")
	waitLeader(t, a)
	term := <-a.leads
	// Someone else holds it now (as after a pause longer than the TTL).
	takeOverLease(t, url)
	select {
	case <-term.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the term did not end after the lease was taken over")
	}
	if a.Leader() {
		t.Error("a still says it leads")
	}
	err := a.fenced.SaveRoute(t.Context(), "shop", store.Route{Live: "blue", Weights: map[slot.Slot]int{"blue": 100}})
	if err == nil {
		t.Error("a's write after losing the lease went through")
	}
}

// takeOverLease gives the lease to another holder, 'z', with the next
// token, for an hour, as if that instance had taken it.
func takeOverLease(t *testing.T, url string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(t.Context(), `UPDATE bluegreen_leases SET holder = 'z', token = token + 1, expires_at = clock_timestamp() + interval '1 hour'`); err != nil {
		t.Fatal(err)
	}
}

// TestRefusedWriteEndsTerm: a leader's write that the database refuses
// (another instance took the lease) ends its term at once, long before
// its next renewal would have told it.
func TestRefusedWriteEndsTerm(t *testing.T) {
	url := pgtest.URL(t)
	a := startTTL(t, url, "a", time.Hour) // renewed every 20 minutes
	waitLeader(t, a)
	term := <-a.leads
	takeOverLease(t, url)
	select {
	case <-term.Done():
		t.Fatal("the term ended before any write was refused")
	case <-time.After(300 * time.Millisecond):
	}
	err := a.fenced.SaveRoute(t.Context(), "shop", store.Route{Live: "blue", Weights: map[slot.Slot]int{"blue": 100}})
	var fe *store.FencedError
	if !errors.As(err, &fe) || fe.Token != 1 || fe.InForce != 2 || fe.Holder != "z" {
		t.Fatalf("stale write: err = %v, want refused with token 1 < 2 held by z", err)
	}
	select {
	case <-term.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the term did not end after the database refused its write")
	}
	if a.Leader() {
		t.Error("a still says it leads")
	}
	if got := context.Cause(term); !errors.Is(got, store.ErrFenced) {
		t.Errorf("the term ended because %v, want the refusal", got)
	}
}

func TestRoutesFollowedInOrder(t *testing.T) {
	url := pgtest.URL(t)
	a, b := start(t, url, "a"), start(t, url, "b")
	leader := waitLeader(t, a, b)
	follower := a
	if leader == a {
		follower = b
	}
	for w := 10; w <= 100; w += 10 {
		r := store.Route{Live: slot.Blue, Weights: map[slot.Slot]int{slot.Blue: 100 - w, slot.Green: w}}
		if err := leader.fenced.SaveRoute(t.Context(), "shop", r); err != nil {
			t.Fatalf("leader saves route %d: %v", w, err)
		}
	}
	deadline := time.After(10 * time.Second)
	for follower.follow.revisionNow() < 10 {
		select {
		case <-deadline:
			t.Fatalf("follower at rev %d, want 10", follower.follow.revisionNow())
		case <-follower.router.changed:
		case <-time.After(50 * time.Millisecond):
		}
	}
	got := follower.router.greens()
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("follower applied green weights %v: not in revision order", got)
		}
	}
	if got[len(got)-1] != 100 {
		t.Errorf("follower's last route %v, want green 100", got)
	}
	if len(leader.router.greens()) != 0 {
		t.Errorf("the leader's router got routes from the follower loop: %v (its controller applies them)", leader.router.greens())
	}
	// Backends of the slots the leader recorded.
	if err := leader.fenced.SaveSlot(t.Context(), "shop", store.SlotState{Slot: slot.Green, Version: "v2",
		State: slot.Running, Instances: []byte(`{"addrs":["127.0.0.1:7001"]}`)}); err != nil {
		t.Fatal(err)
	}
	for {
		follower.router.mu.Lock()
		got := follower.router.backends[slot.Green]
		follower.router.mu.Unlock()
		if len(got) == 1 && got[0] == "127.0.0.1:7001" {
			break
		}
		select {
		case <-deadline:
			t.Fatalf("follower's green backends %v", got)
		case <-time.After(20 * time.Millisecond):
		}
	}
	st := follower.Status()
	if st.Leader || st.RouteRev != 10 || len(st.Instances) != 2 {
		t.Errorf("follower status = %+v; want not leader, rev 10, 2 instances", st)
	}
	if follower.LeaderAdmin() != leader.ID()+":9090" {
		t.Errorf("LeaderAdmin = %q, want %s:9090", follower.LeaderAdmin(), leader.ID())
	}
}
