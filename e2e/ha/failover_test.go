package hae2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bluegreen-dev/bluegreen/internal/pgtest"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// Load of the failover test: clients at once, and each one's pause
// between requests (bounded: about clients/pause requests per second).
const (
	clients     = 64
	clientPause = 50 * time.Millisecond
)

// TestLeaderKilledMidShift: three serves share one database under load
// spread over their production listeners; a linear deployment of v2 is
// sent to a follower (which forwards it to the leader); every route step
// reaches every router; the leader is killed with SIGKILL mid-shift;
// another instance takes the lease and finishes the deployment from the
// persisted step. The surviving routers fail no request in the whole run,
// and the share of v2 the clients see follows the weights.
func TestLeaderKilledMidShift(t *testing.T) {
	url := pgtest.URL(t)
	blue, green := startBackend(t, "v1"), startBackend(t, "v2")
	c := newHACluster(t, haOptions{nodes: 3, url: url, strategy: "linear 20% every 3s", bake: "2s",
		blue: []string{blue}, green: []string{green}})
	c.start()
	leader := c.leader(30 * time.Second)
	follower := c.nodes[0]
	if follower == leader {
		follower = c.nodes[1]
	}
	// A command sent to a follower is carried out by the leader.
	follower.mustCLI("route", "--live", "blue")
	for _, p := range c.nodes {
		waitFor(t, 10*time.Second, p.name+" to route to v1", func() bool { return serves(p.prod) == "v1" })
	}
	idle := dbLoad(t, url, 5*time.Second)
	t.Logf("database load at rest: %.1f transactions/s for 3 routers (%.1f per router)", idle, idle/3)

	cm := watchCommits(t, url)
	rw := watchRouters(t, c.nodes, 50*time.Millisecond)
	targets := make([]string, len(c.nodes))
	for i, p := range c.nodes {
		targets[i] = p.prod
	}
	ld := startLoad(targets, clients, clientPause)
	waitFor(t, 30*time.Second, "steady load", func() bool { return len(ld.snapshot()) > 1000 })

	id := follower.deploy("v2")
	// Mid-shift: once every router applied 40%.
	var rev40 int64
	waitFor(t, 2*time.Minute, "every router at 40% on green", func() bool {
		for rev := int64(1); rev < 100; rev++ {
			if x, ok := cm.get(rev); ok && x.weights[slot.Green] == 40 {
				rev40 = rev
			}
		}
		if rev40 == 0 {
			return false
		}
		for i := range c.nodes {
			if _, ok := rw.at(i, rev40); !ok {
				return false
			}
		}
		return true
	})
	killed := slices.Index(c.nodes, leader)
	ld.markDown(killed) // the load balancer sends its clients to the others
	killAt := time.Now()
	leader.kill()
	t.Logf("killed the leader %s (SIGKILL) at 40%% on green", leader.name)

	next := c.leader(30 * time.Second)
	var end deploymentView
	waitFor(t, 2*time.Minute, fmt.Sprintf("deployment %d to end", id), func() bool {
		end = next.deployment(id)
		return !end.Active
	})
	if end.Phase != "succeeded" {
		t.Fatalf("deployment ended %s (%s), want succeeded", end.Phase, end.Reason)
	}
	finalRev := int64(0)
	for rev := int64(1); rev < 100; rev++ {
		if x, ok := cm.get(rev); ok && x.weights[slot.Green] == 100 {
			finalRev = rev
		}
	}
	for _, p := range c.live() {
		i := slices.Index(c.nodes, p)
		waitFor(t, 10*time.Second, p.name+" to apply the last route", func() bool { _, ok := rw.at(i, finalRev); return ok })
	}
	samples := ld.stop()
	rw.stop()

	// Resumed from the persisted step: the weights only go up, none twice.
	ws := stepWeights(end.Events)
	if !slices.Equal(ws, []int{20, 40, 60, 80}) {
		t.Errorf("shifting steps' weights = %v, want 20 40 60 80 then baking at 100 (resumed, never back)", ws)
	}
	// Failover: kill → the next step taken by the new leader.
	var nextStep time.Time
	for _, ev := range end.Events {
		if ev.Time.After(killAt) {
			nextStep = ev.Time
			break
		}
	}
	t.Logf("failover: leader killed → next step (%s) taken by %s in %s",
		eventLabel(end.Events, nextStep), next.name, nextStep.Sub(killAt).Round(time.Millisecond))

	// No failure on the survivors, in the whole run.
	var ok, failed, deadFailed int
	for _, s := range samples {
		switch {
		case s.err == "":
			ok++
		case s.router == killed:
			deadFailed++
		default:
			failed++
			if failed <= 5 {
				t.Errorf("request to %s at %s failed: %s", c.nodes[s.router].name, s.sent.Format(time.StampMilli), s.err)
			}
		}
	}
	t.Logf("requests: %d ok, %d failed on the survivors, %d failed on the killed router (in flight when it died)", ok, failed, deadFailed)
	if failed > 0 {
		t.Errorf("%d requests to the surviving routers failed, want 0", failed)
	}

	// Propagation: each revision the leader committed, on each router
	// alive at the time, within a second.
	var lat []time.Duration
	for rev := rev40 - 2; rev <= finalRev; rev++ {
		x, ok := cm.get(rev)
		if !ok {
			continue
		}
		for i, p := range c.nodes {
			if i == killed && !x.at.Before(killAt) {
				continue
			}
			at, ok := rw.at(i, rev)
			if !ok {
				t.Errorf("%s never reported route rev %d (%v)", p.name, rev, x.weights)
				continue
			}
			d := at.Sub(x.at)
			lat = append(lat, d)
			if d > time.Second {
				t.Errorf("%s applied rev %d %s after its commit, want within 1s", p.name, rev, d)
			}
		}
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		t.Logf("route propagation over %d (revision, router) pairs: p50 %s, p99 %s, worst %s",
			len(lat), pct(lat, 50), pct(lat, 99), lat[len(lat)-1])
	}

	// Proportions: per revision, the share of v2 among the requests sent
	// to a router while it had that revision applied (100ms after the
	// switch on, to leave the leader's own apply a margin).
	checkShares(t, c, samples, rw, cm)

	// Status on a survivor lists the cluster: it leads or another does,
	// and the killed one is no longer leading.
	st, err := next.status()
	if err != nil {
		t.Fatal(err)
	}
	leaders := 0
	for _, in := range st.Cluster.Instances {
		if in.Leader {
			leaders++
		}
	}
	if leaders != 1 || len(st.Cluster.Instances) < 2 {
		t.Errorf("cluster status = %+v; want the survivors with one leader", st.Cluster.Instances)
	}
}

// serves is the version behind a production listener ("" on failure).
func serves(prod string) string {
	tl := startLoad([]string{prod}, 1, time.Hour)
	time.Sleep(100 * time.Millisecond)
	s := tl.stop()
	if len(s) == 0 {
		return ""
	}
	return s[0].version
}

// stepWeights are the weights of the shifting events, in order.
func stepWeights(evs []deploymentEvent) []int {
	var out []int
	for _, ev := range evs {
		if ev.Phase != "shifting" {
			continue
		}
		var d struct {
			Weight int `json:"weight"`
		}
		if json.Unmarshal(ev.Data, &d) == nil {
			out = append(out, d.Weight)
		}
	}
	return out
}

func eventLabel(evs []deploymentEvent, at time.Time) string {
	for _, ev := range evs {
		if ev.Time.Equal(at) {
			return fmt.Sprintf("%s %s", ev.Phase, ev.Data)
		}
	}
	return "none"
}

func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	return sorted[max(0, min(len(sorted)-1, i-1))].Round(100 * time.Microsecond)
}

// checkShares compares, per route revision, the share of v2 the clients
// saw with the green weight, within four standard errors plus 2 points.
func checkShares(t *testing.T, c *haCluster, samples []sample, rw *routerWatch, cm *commits) {
	t.Helper()
	type tally struct{ v2, n int }
	per := map[int64]*tally{}
	for _, s := range samples {
		if s.err != "" {
			continue
		}
		rev, since := rw.revAt(s.router, s.sent)
		if rev == 0 || s.sent.Sub(since) < 100*time.Millisecond {
			continue
		}
		// The next revision may already be in force: skip requests sent
		// within 100ms before this router applied it.
		if at, ok := rw.at(s.router, rev+1); ok && at.Sub(s.sent) < 100*time.Millisecond {
			continue
		}
		x := per[rev]
		if x == nil {
			x = &tally{}
			per[rev] = x
		}
		x.n++
		if s.version == "v2" {
			x.v2++
		}
	}
	revs := make([]int64, 0, len(per))
	for rev := range per {
		revs = append(revs, rev)
	}
	slices.Sort(revs)
	for _, rev := range revs {
		x := per[rev]
		cmt, ok := cm.get(rev)
		if !ok || x.n < 100 {
			continue
		}
		want := float64(cmt.weights[slot.Green]) / 100
		got := float64(x.v2) / float64(x.n)
		se := math.Sqrt(want * (1 - want) / float64(x.n))
		t.Logf("rev %d: green weight %2.0f%%, clients saw v2 in %5.1f%% of %d requests", rev, 100*want, 100*got, x.n)
		if math.Abs(got-want) > 4*se+0.02 {
			t.Errorf("rev %d: v2 share %.3f of %d requests, want %.2f ± %.3f", rev, got, x.n, want, 4*se+0.02)
		}
	}
}

// connectDB opens a connection to url of its own, closed when the test
// ends.
func connectDB(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// dbLoad is the database's committed transactions per second over d.
func dbLoad(t *testing.T, url string, d time.Duration) float64 {
	t.Helper()
	ctx := context.Background()
	conn := connectDB(t, url)
	read := func() int64 {
		var n int64
		// The statistics are a snapshot per transaction: clear it first.
		if _, err := conn.Exec(ctx, `SELECT pg_stat_clear_snapshot()`); err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRow(ctx, `SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := read()
	time.Sleep(d)
	after := read()
	// The two reads and the clears are ours: 4 transactions.
	return float64(after-before-4) / d.Seconds()
}
