package hae2e

import (
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/pgtest"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// TestStaleLeaderCannotWrite: the leader is paused with SIGSTOP past its
// lease mid-shift; another instance takes the lease and goes on. Resumed
// with SIGCONT, the old leader steps down without writing: its writes
// are refused, and the deployment the new leader runs is untouched (its
// steps in order, none twice, and it succeeds).
func TestStaleLeaderCannotWrite(t *testing.T) {
	url := pgtest.URL(t)
	blue, green := startBackend(t, "v1"), startBackend(t, "v2")
	c := newHACluster(t, haOptions{nodes: 3, url: url, strategy: "linear 25% every 3s", bake: "1s",
		blue: []string{blue}, green: []string{green}})
	c.start()
	old := c.leader(30 * time.Second)
	old.mustCLI("route", "--live", "blue")
	cm := watchCommits(t, url)
	id := old.deploy("v2")
	waitFor(t, time.Minute, "the first step (25% on green)", func() bool {
		for rev := int64(1); rev < 20; rev++ {
			if x, ok := cm.get(rev); ok && x.weights[slot.Green] == 25 {
				return true
			}
		}
		return false
	})
	old.signal(syscall.SIGSTOP)
	stoppedAt := time.Now()
	var rest []*serveProc
	for _, p := range c.nodes {
		if p != old {
			rest = append(rest, p)
		}
	}
	next := c.leaderAmong(rest, 30*time.Second)
	t.Logf("%s paused; %s took the lease after %s", old.name, next.name, time.Since(stoppedAt).Round(time.Millisecond))
	// Let the new leader take a step while the old one sleeps through its
	// own step deadline.
	before := len(next.deployment(id).Events)
	waitFor(t, 30*time.Second, "the new leader's next step", func() bool { return len(next.deployment(id).Events) > before })
	old.signal(syscall.SIGCONT)
	waitFor(t, 30*time.Second, old.name+" to step down", func() bool {
		return strings.Contains(old.logs.String(), "stepped down: lost the controller lease")
	})
	logs := old.logs.String()
	for _, l := range strings.Split(logs, "\n") {
		// Its renewal is refused by the database (the why of the step
		// down); a controller write it tried first is refused too.
		if strings.Contains(l, "stepped down") || strings.Contains(l, "refused: this instance no longer holds") {
			t.Logf("stale leader: %s", l)
		}
	}
	if !strings.Contains(logs, "refused: this instance no longer holds the controller lease") {
		// It saw its lease run out by its own clock before any write:
		// it stopped without asking (the database refusing a stale
		// write is tested in internal/store/postgres and internal/cluster).
		t.Logf("the stale leader stopped before any write reached the database")
	}

	var end deploymentView
	waitFor(t, 2*time.Minute, fmt.Sprintf("deployment %d to end", id), func() bool {
		end = next.deployment(id)
		return !end.Active
	})
	if end.Phase != "succeeded" {
		t.Fatalf("deployment ended %s (%s), want succeeded", end.Phase, end.Reason)
	}
	if ws := stepWeights(end.Events); !slices.Equal(ws, []int{25, 50, 75}) {
		t.Errorf("shifting steps' weights = %v, want 25 50 75 (the stale leader wrote nothing)", ws)
	}
	st, err := old.status()
	if err != nil {
		t.Fatal(err)
	}
	if st.Cluster.Leader {
		t.Error("the resumed old leader says it leads")
	}
}
