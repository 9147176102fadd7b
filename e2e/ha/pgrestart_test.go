package hae2e

import (
	"fmt"
	"slices"
	"testing"
	"time"

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

	pg.stop()
	downAt := time.Now()
	degraded := make([]bool, len(c.nodes))
	waitFor(t, 20*time.Second, "every router to report degraded", func() bool {
		all := true
		for i, p := range c.nodes {
			degraded[i] = degraded[i] || p.healthz() == "degraded"
			all = all && degraded[i]
		}
		return all
	})
	time.Sleep(3500 * time.Millisecond) // the outage lasts past the lease (3s)
	pg.start()
	upAt := time.Now()
	t.Logf("PostgreSQL down for %s", upAt.Sub(downAt).Round(time.Millisecond))
	for _, p := range c.nodes {
		waitFor(t, 30*time.Second, p.name+" to recover", func() bool { return p.healthz() == "ok" })
	}
	t.Logf("every router recovered %s after PostgreSQL was back", time.Since(upAt).Round(time.Millisecond))
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
