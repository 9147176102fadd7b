package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/pgtest"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// hold takes app's lease for holder and returns a fence holding it.
func hold(t *testing.T, s *Store, app, holder string, ttl time.Duration) (*Fence, store.Lease) {
	t.Helper()
	start := time.Now()
	l, err := s.AcquireLease(t.Context(), app, holder, ttl)
	if err != nil {
		t.Fatalf("%s acquires the lease: %v", holder, err)
	}
	f := &Fence{}
	f.Hold(l, start.Add(ttl))
	return f, l
}

// expire makes app's lease run out now, in the database, as if its
// holder had stopped renewing it long enough.
func expire(t *testing.T, s *Store, app string) {
	t.Helper()
	if _, err := s.pool.Exec(t.Context(),
		`UPDATE bluegreen_leases SET expires_at = clock_timestamp() - interval '1 second' WHERE app = $1`, app); err != nil {
		t.Fatalf("expire the lease: %v", err)
	}
}

func TestLeaseOneHolderTokensGrow(t *testing.T) {
	s := openT(t, pgtest.URL(t))
	ctx := t.Context()
	a, err := s.AcquireLease(ctx, "shop", "a", time.Minute)
	if err != nil || a.Token != 1 || a.Holder != "a" {
		t.Fatalf("first acquire = %+v, %v; want token 1 held by a", a, err)
	}
	if _, err := s.AcquireLease(ctx, "shop", "b", time.Minute); !errors.Is(err, store.ErrLeaseHeld) {
		t.Fatalf("b acquires a held lease: err = %v, want ErrLeaseHeld", err)
	}
	if _, err := s.AcquireLease(ctx, "other", "b", time.Minute); err != nil {
		t.Fatalf("b acquires another app's lease: %v (leases are per app)", err)
	}
	renewed, err := s.RenewLease(ctx, a, time.Minute)
	if err != nil || renewed.Token != 1 || !renewed.Expires.After(a.Expires.Add(-time.Second)) {
		t.Fatalf("renew = %+v, %v; want token 1 extended", renewed, err)
	}
	expire(t, s, "shop")
	if _, err := s.RenewLease(ctx, a, time.Minute); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("renew of an expired lease: err = %v, want ErrFenced", err)
	}
	b, err := s.AcquireLease(ctx, "shop", "b", time.Minute)
	if err != nil || b.Token != 2 {
		t.Fatalf("b acquires the expired lease = %+v, %v; want token 2", b, err)
	}
	if err := s.ReleaseLease(ctx, a); err != nil {
		t.Fatalf("a releases a lease it lost: %v, want no error", err)
	}
	if _, err := s.AcquireLease(ctx, "shop", "c", time.Minute); !errors.Is(err, store.ErrLeaseHeld) {
		t.Fatalf("a's release ended b's lease: c acquired it (err %v)", err)
	}
	if err := s.ReleaseLease(ctx, b); err != nil {
		t.Fatalf("b releases: %v", err)
	}
	c, err := s.AcquireLease(ctx, "shop", "c", time.Minute)
	if err != nil || c.Token != 3 {
		t.Fatalf("c acquires after b released = %+v, %v; want token 3 at once", c, err)
	}
}

func TestConcurrentAcquireOneWins(t *testing.T) {
	s := openT(t, pgtest.URL(t))
	const n = 8
	errs := make(chan error, n)
	start := make(chan struct{})
	for i := range n {
		go func() {
			<-start
			_, err := s.AcquireLease(context.Background(), "shop", string(rune('a'+i)), time.Minute)
			errs <- err
		}()
	}
	close(start)
	won := 0
	for range n {
		err := <-errs
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrLeaseHeld):
			t.Errorf("acquire: %v", err)
		}
	}
	if won != 1 {
		t.Errorf("%d instances acquired the lease at once, want 1", won)
	}
}

// TestStaleLeaderWriteRefused: a leader whose lease expired and was taken
// over cannot write the route, a slot or a deployment, even though its
// own fence still says it holds the lease; the new leader's state is
// untouched.
func TestStaleLeaderWriteRefused(t *testing.T) {
	url := pgtest.URL(t)
	s := openT(t, url)
	ctx := t.Context()
	fa, _ := hold(t, s, "shop", "a", time.Hour) // trusted locally for an hour
	old := s.Fenced(fa)
	if err := old.SaveRoute(ctx, "shop", store.Route{Live: "blue", Weights: map[slot.Slot]int{"blue": 100, "green": 0}}); err != nil {
		t.Fatalf("leader a saves the route: %v", err)
	}
	d := store.Deployment{App: "shop", Kind: "deploy", Version: "v2", Slot: "green", Strategy: "linear", Phase: "shifting", Active: true}
	if err := old.CreateDeployment(ctx, &d, &store.Event{Phase: "pending"}); err != nil {
		t.Fatalf("leader a creates a deployment: %v", err)
	}

	expire(t, s, "shop")
	fb, _ := hold(t, s, "shop", "b", time.Hour)
	next := s.Fenced(fb)
	nd := d
	nd.Weight, nd.Step = 50, 1
	if err := next.Transition(ctx, &nd, &store.Event{Phase: "shifting", Reason: "step 1"}); err != nil {
		t.Fatalf("leader b moves the deployment: %v", err)
	}
	if err := next.SaveRoute(ctx, "shop", store.Route{Live: "blue", Weights: map[slot.Slot]int{"blue": 50, "green": 50}}); err != nil {
		t.Fatalf("leader b saves the route: %v", err)
	}

	// a wakes up and acts on what it knew.
	stale := d
	stale.Weight, stale.Step = 25, 1
	writes := map[string]error{
		"route":      old.SaveRoute(ctx, "shop", store.Route{Live: "blue", Weights: map[slot.Slot]int{"blue": 75, "green": 25}}),
		"slot":       old.SaveSlot(ctx, "shop", store.SlotState{Slot: "green", Version: "v2", State: "stopped"}),
		"transition": old.Transition(ctx, &stale, &store.Event{Phase: "shifting"}),
		"create": old.CreateDeployment(ctx, &store.Deployment{App: "shop", Kind: "deploy", Version: "v3",
			Slot: "blue", Strategy: "x", Phase: "pending", Active: false}, nil),
	}
	for what, err := range writes {
		if !errors.Is(err, store.ErrFenced) {
			t.Errorf("stale leader's %s write: err = %v, want ErrFenced", what, err)
		}
	}
	r, err := s.LoadRoute(ctx, "shop")
	if err != nil || r.Weights["green"] != 50 || r.Rev != 2 {
		t.Errorf("route after the stale writes = %+v, %v; want b's 50/50 at rev 2", r, err)
	}
	got, err := s.GetDeployment(ctx, d.ID)
	if err != nil || got.Weight != 50 || got.Rev != nd.Rev {
		t.Errorf("deployment after the stale writes = weight %d rev %d, %v; want b's weight 50 rev %d", got.Weight, got.Rev, err, nd.Rev)
	}
	if slots, err := s.LoadSlots(ctx, "shop"); err != nil || len(slots) != 0 {
		t.Errorf("slots after the stale write = %+v, %v; want none", slots, err)
	}
	if n := count(t, s, `SELECT count(*) FROM bluegreen_deployments`); n != 1 {
		t.Errorf("%d deployments, want 1 (the stale create was refused)", n)
	}
}

// TestFenceReportsRefusal: a write the database refuses says which
// tokens (FencedError, ErrFenced) and is reported on Refused, once per
// refusal; a write refused by the local check alone is not reported.
// TrustPastExpiry lets a write past the local deadline reach the database.
func TestFenceReportsRefusal(t *testing.T) {
	s := openT(t, pgtest.URL(t))
	ctx := t.Context()
	r := store.Route{Live: "blue", Weights: map[slot.Slot]int{"blue": 100}}
	fa, la := hold(t, s, "shop", "a", time.Minute)
	if err := s.Fenced(fa).SaveRoute(ctx, "shop", r); err != nil {
		t.Fatalf("a's write under its lease: %v", err)
	}
	select {
	case e := <-fa.Refused():
		t.Fatalf("a write that went through was reported refused: %v", e)
	default:
	}
	// Past the local deadline: refused locally, the database not asked.
	fa.Hold(la, time.Now().Add(-time.Millisecond))
	if err := s.Fenced(fa).SaveRoute(ctx, "shop", r); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("write past the local deadline: err = %v, want ErrFenced", err)
	}
	select {
	case e := <-fa.Refused():
		t.Fatalf("a local refusal was reported as the database's: %v", e)
	default:
	}

	expire(t, s, "shop")
	_, lb := hold(t, s, "shop", "b", time.Minute)
	fa.TrustPastExpiry = true // a paused leader that does not look at its clock
	err := s.Fenced(fa).SaveRoute(ctx, "shop", store.Route{Live: "green", Weights: map[slot.Slot]int{"green": 100}})
	var fe *store.FencedError
	if !errors.As(err, &fe) || !errors.Is(err, store.ErrFenced) {
		t.Fatalf("stale write: err = %v, want a FencedError that is ErrFenced", err)
	}
	if fe.Token != la.Token || fe.InForce != lb.Token || fe.Holder != "b" || fe.Expired {
		t.Errorf("refusal = %+v, want token %d < %d held by b", fe, la.Token, lb.Token)
	}
	want := "refused: this instance no longer holds the controller lease (fencing token 1 < 2, held by b)"
	if !strings.HasSuffix(err.Error(), want) {
		t.Errorf("refusal says %q, want it to end %q", err, want)
	}
	select {
	case got := <-fa.Refused():
		if got != fe {
			t.Errorf("Refused delivered %v, want the write's refusal %v", got, fe)
		}
	default:
		t.Fatal("the database's refusal was not reported on Refused")
	}
	if got, err := s.LoadRoute(ctx, "shop"); err != nil || got.Live != "blue" {
		t.Errorf("route after the refused write = %+v, %v; want a's blue", got, err)
	}

	// b's own lease, expired and not taken: refused as expired.
	fb := &Fence{TrustPastExpiry: true}
	fb.Hold(lb, time.Now().Add(time.Minute))
	expire(t, s, "shop")
	if err := s.Fenced(fb).SaveRoute(ctx, "shop", r); !errors.As(err, &fe) || !fe.Expired || fe.Token != lb.Token {
		t.Errorf("write under an expired lease: err = %v, want FencedError expired for token %d", err, lb.Token)
	}
}

func TestFenceRefusesWithoutDatabase(t *testing.T) {
	s := openT(t, pgtest.URL(t))
	ctx := t.Context()
	var none Fence
	r := store.Route{Live: "blue", Weights: map[slot.Slot]int{"blue": 100}}
	if err := s.Fenced(&none).SaveRoute(ctx, "shop", r); !errors.Is(err, store.ErrFenced) {
		t.Errorf("write with an empty fence: err = %v, want ErrFenced", err)
	}
	f, _ := hold(t, s, "shop", "a", time.Minute)
	f.Drop()
	if err := s.Fenced(f).SaveRoute(ctx, "shop", r); !errors.Is(err, store.ErrFenced) {
		t.Errorf("write after Drop: err = %v, want ErrFenced", err)
	}
	// Trusted locally until a time already past: refused before asking
	// the database, although the database's lease is still in force.
	l, err := s.Lease(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	f.Hold(l, time.Now().Add(-time.Millisecond))
	if err := s.Fenced(f).SaveRoute(ctx, "shop", r); !errors.Is(err, store.ErrFenced) {
		t.Errorf("write past the local deadline: err = %v, want ErrFenced", err)
	}
	f.Hold(l, time.Now().Add(time.Minute))
	if err := s.Fenced(f).SaveRoute(ctx, "shop", r); err != nil {
		t.Errorf("write under the lease in force: %v", err)
	}
	// Not fenced: the routers' own writes.
	if err := s.Fenced(&none).SaveMCPSessions(ctx, "shop", []store.MCPSession{{ID: "s", Slot: "blue", LastUsed: time.Now()}}); err != nil {
		t.Errorf("session pins through a store without the lease: %v", err)
	}
}

// TestTakeoverWaitsForWriteInFlight: a takeover that comes while the old
// leader's write holds the lease row (checked, not yet committed) waits for
// that write to commit; the old leader's next write is refused.
func TestTakeoverWaitsForWriteInFlight(t *testing.T) {
	s := openT(t, pgtest.URL(t))
	ctx := t.Context()
	fa, _ := hold(t, s, "shop", "a", 300*time.Millisecond)
	fa.Hold(store.Lease{App: "shop", Holder: "a", Token: 1}, time.Now().Add(time.Hour)) // a trusts it locally
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	if err := fa.check(ctx, tx); err != nil {
		t.Fatalf("check in a's write: %v", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO bluegreen_routes (app, live, weights, rev, updated_at) VALUES ('shop', 'blue', '{}', 1, now())`); err != nil {
		t.Fatal(err)
	}
	// Wait, by the database's clock, for the lease to run out.
	for {
		var over bool
		if err := s.pool.QueryRow(ctx, `SELECT expires_at <= clock_timestamp() FROM bluegreen_leases WHERE app = 'shop'`).Scan(&over); err != nil {
			t.Fatal(err)
		}
		if over {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := make(chan error, 1)
	go func() {
		_, err := s.AcquireLease(ctx, "shop", "b", time.Hour)
		took <- err
	}()
	// b's takeover waits on a's row lock.
	for {
		var waiting int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%bluegreen_leases%'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		select {
		case err := <-took:
			t.Fatalf("b took the lease while a's write held it (err %v)", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("a's write in flight commits: %v", err)
	}
	if err := <-took; err != nil {
		t.Fatalf("b's takeover after a's commit: %v", err)
	}
	if err := s.Fenced(fa).SaveRoute(ctx, "shop", store.Route{Live: "green", Weights: map[slot.Slot]int{"green": 100}}); !errors.Is(err, store.ErrFenced) {
		t.Errorf("a's write after the takeover: err = %v, want ErrFenced", err)
	}
}

func TestListenRoutes(t *testing.T) {
	url := pgtest.URL(t)
	s := openT(t, url)
	writer := openT(t, url)
	ctx, cancel := context.WithCancel(t.Context())
	revs := make(chan int64, 16)
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- s.ListenRoutes(ctx, "shop", func() { close(ready) }, func(rev int64) { revs <- rev }) }()
	<-ready
	for i := range 3 {
		r := store.Route{Live: "blue", Weights: map[slot.Slot]int{"blue": 100 - i, "green": i}}
		if err := writer.SaveRoute(ctx, "shop", r); err != nil {
			t.Fatal(err)
		}
		if err := writer.SaveRoute(ctx, "other", r); err != nil {
			t.Fatal(err)
		}
	}
	for want := int64(1); want <= 3; want++ {
		if got := <-revs; got != want {
			t.Errorf("notified rev %d, want %d (in commit order, this app only)", got, want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("ListenRoutes after cancel: %v", err)
	}
}

func TestInstances(t *testing.T) {
	s := openT(t, pgtest.URL(t))
	ctx := t.Context()
	for _, in := range []store.Instance{
		{ID: "a", Admin: "127.0.0.1:1", Production: "127.0.0.1:2", RouteRev: 3, Leader: true, Counts: []byte(`{"blue":{"requests":5}}`)},
		{ID: "b", Admin: "127.0.0.1:3", Production: "127.0.0.1:4", RouteRev: 2, Degraded: true},
	} {
		if err := s.SaveInstance(ctx, "shop", in); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SaveInstance(ctx, "shop", store.Instance{ID: "b", Admin: "127.0.0.1:3", RouteRev: 3}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Instances(ctx, "shop", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "a" || !got[0].Leader || got[1].RouteRev != 3 || got[1].Degraded {
		t.Fatalf("instances = %+v; want a (leader) and b at rev 3, no longer degraded", got)
	}
	if got[1].StartedAt.After(got[1].LastSeen) || got[0].LastSeen.IsZero() {
		t.Errorf("times: %+v", got)
	}
	if _, err := s.pool.Exec(ctx, `UPDATE bluegreen_instances SET last_seen = clock_timestamp() - interval '2 hours' WHERE id = 'a'`); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Instances(ctx, "shop", time.Minute); len(got) != 1 || got[0].ID != "b" {
		t.Errorf("recent instances = %+v, want b only", got)
	}
	if err := s.PruneInstances(ctx, "shop", time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Instances(ctx, "shop", 0); len(got) != 1 {
		t.Errorf("instances after prune = %+v, want b only", got)
	}
}

func TestLoadMCPSessionsSince(t *testing.T) {
	s := openT(t, pgtest.URL(t))
	ctx := t.Context()
	base := time.Now().UTC().Truncate(time.Microsecond)
	pins := []store.MCPSession{
		{ID: "old", Slot: "blue", LastUsed: base.Add(-time.Hour)},
		{ID: "a", Slot: "blue", Instance: "127.0.0.1:1", LastUsed: base.Add(-time.Second)},
		{ID: "b", Slot: "green", LastUsed: base},
	}
	if err := s.SaveMCPSessions(ctx, "shop", pins); err != nil {
		t.Fatal(err)
	}
	got, err := s.LoadMCPSessionsSince(ctx, "shop", base.Add(-time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "b" || got[1].ID != "a" || got[1].Instance != "127.0.0.1:1" {
		t.Errorf("pins since a minute ago = %+v, want b then a", got)
	}
	if got, err := s.LoadMCPSessionsSince(ctx, "shop", time.Time{}, 1); err != nil || len(got) != 1 || got[0].ID != "b" {
		t.Errorf("newest pin, limit 1 = %+v, %v; want b", got, err)
	}
}
