package hae2e

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/api"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// TestStateRestartFailStatic: PostgreSQL stops for a few seconds (a
// restart) mid-shift under steady traffic. Every router keeps serving
// with the route it knew (0 failed requests), reports degraded while the
// database is away and recovers by itself; no controller step is taken
// while it lasts, and the deployment goes on after.
func TestStateRestartFailStatic(t *testing.T) {
	pg := startOwnCluster(t)
	url := pg.url()
	blue, green := startBackend(t, "v1"), startBackend(t, "v2")
	c := newHACluster(t, haOptions{nodes: 3, url: url, strategy: "linear 25% every 3s", bake: "1s",
		blue: []string{blue}, green: []string{green}})
	c.start()
	leader := c.leader(30 * time.Second)
	leader.mustCLI("route", "--live", "blue")
	targets := make([]string, len(c.nodes))
	for i, p := range c.nodes {
		targets[i] = p.prod
		waitFor(t, 10*time.Second, p.name+" to route to v1", func() bool { return serves(p.prod) == "v1" })
	}
	ld := startLoad(targets, clients, clientPause)
	id := leader.deploy("v2")
	waitFor(t, time.Minute, "the first step", func() bool {
		return slices.Contains(stepWeights(leader.deployment(id).Events), 25)
	})

	// A stop then a start, not `pg_ctl restart`: the gap between them is
	// the test's, so the outage lasts long enough (past the 3s lease and
	// a step's 3s) to be observed from every router.
	pg.stop()
	downAt := time.Now()
	waitFor(t, 20*time.Second, "every router to report degraded", func() bool {
		for _, p := range c.nodes {
			if p.healthz() != "degraded" {
				return false
			}
		}
		return true
	})
	// Every router now knows it cannot reach the store: from here until
	// PostgreSQL is back nothing may change its route.
	before := make([]api.ClusterStatus, len(c.nodes))
	routes := make([]api.Route, len(c.nodes))
	for i, p := range c.nodes {
		st := p.degradedStatus()
		before[i], routes[i] = *st.Cluster, st.Route
	}
	t.Logf("while PostgreSQL is down: routers at route revisions %v, routes %v", revs(before), routes)
	checks := 0
	for until := time.Now().Add(3500 * time.Millisecond); time.Now().Before(until); checks++ {
		for i, p := range c.nodes {
			st := p.degradedStatus()
			if st.Cluster.RouteRev != before[i].RouteRev || !maps.Equal(st.Route.Weights, routes[i].Weights) || st.Route.Live != routes[i].Live {
				t.Fatalf("%s's route changed while PostgreSQL was down: revision %d %v, was %d %v (a step was taken)",
					p.name, st.Cluster.RouteRev, st.Route, before[i].RouteRev, routes[i])
			}
			if v, ok := p.metric("bluegreen_state_connected"); !ok || v != 0 {
				t.Fatalf("%s: bluegreen_state_connected = %v (found %v) while PostgreSQL is down, want 0", p.name, v, ok)
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	if d := revs(before); d[0] != d[1] || d[1] != d[2] {
		t.Errorf("routers at route revisions %v while PostgreSQL was down, want one revision", d)
	}
	pg.start()
	upAt := time.Now()
	t.Logf("PostgreSQL down for %s; %d rounds of status and metrics checks on every router while it was",
		upAt.Sub(downAt).Round(time.Millisecond), checks)
	for _, p := range c.nodes {
		waitFor(t, 30*time.Second, p.name+" to recover", func() bool { return p.healthz() == "ok" })
	}
	t.Logf("every router recovered %s after PostgreSQL was back", time.Since(upAt).Round(time.Millisecond))
	for _, p := range c.nodes {
		st, err := p.status()
		if err != nil {
			t.Fatalf("%s's status after recovery: %v", p.name, err)
		}
		if st.Cluster == nil || st.Cluster.Degraded || st.Active == nil && st.Last == nil {
			t.Errorf("%s's status after recovery = cluster %+v, active %v; want not degraded, with the deployment", p.name, st.Cluster, st.Active)
		}
		if v, ok := p.metric("bluegreen_state_connected"); !ok || v != 1 {
			t.Errorf("%s: bluegreen_state_connected = %v (found %v) after recovery, want 1", p.name, v, ok)
		}
	}
	next := c.leader(30 * time.Second)
	var end deploymentView
	waitFor(t, 2*time.Minute, fmt.Sprintf("deployment %d to end", id), func() bool {
		end = next.deployment(id)
		return !end.Active
	})
	samples := ld.stop()
	if end.Phase != "succeeded" {
		t.Fatalf("deployment ended %s (%s), want succeeded", end.Phase, end.Reason)
	}
	// No step while the database was down: no router's route moved then
	// (above), and none of the deployment's events is from then.
	for _, ev := range end.Events {
		if ev.Time.After(downAt) && ev.Time.Before(upAt) {
			t.Errorf("event %s %s at %s, while PostgreSQL was down", ev.Phase, ev.Data, ev.Time)
		}
	}
	if ws := stepWeights(end.Events); !slices.Equal(ws, []int{25, 50, 75}) {
		t.Errorf("shifting steps' weights = %v, want 25 50 75", ws)
	}
	failed := 0
	for _, s := range samples {
		if s.err != "" {
			if failed++; failed <= 5 {
				t.Errorf("request to %s at %s failed: %s", c.nodes[s.router].name, s.sent.Format(time.StampMilli), s.err)
			}
		}
	}
	t.Logf("requests: %d, failed %d", len(samples), failed)
	if failed > 0 {
		t.Errorf("%d requests failed, want 0", failed)
	}
	if st, err := next.status(); err != nil || st.Route.Weights[slot.Green] != 100 {
		t.Errorf("route after the deployment = %+v, %v; want green 100", st.Route, err)
	}
}

// degradedStatus is serve's /api/v1/status while the database is down:
// it must answer, and say degraded.
func (p *serveProc) degradedStatus() api.Status {
	p.t.Helper()
	st, err := p.status()
	if err != nil {
		p.t.Fatalf("%s's status while PostgreSQL is down: %v (a degraded router still answers)", p.name, err)
	}
	if st.Cluster == nil || !st.Cluster.Degraded {
		p.t.Fatalf("%s's status while PostgreSQL is down: cluster %+v, want degraded", p.name, st.Cluster)
	}
	return st
}

// revs are the route revisions of sts.
func revs(sts []api.ClusterStatus) []int64 {
	out := make([]int64, len(sts))
	for i, st := range sts {
		out[i] = st.RouteRev
	}
	return out
}

// metric reads an unlabelled sample from serve's /metrics (ok false when
// it is not there or /metrics did not answer).
func (p *serveProc) metric(name string) (float64, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+p.admin+"/metrics", nil)
	if err != nil {
		return 0, false
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	res, err := adminClient.Do(req)
	if err != nil {
		return 0, false
	}
	defer func() { _ = res.Body.Close() }()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	}
	return 0, false
}
