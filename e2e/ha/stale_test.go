package hae2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/pgtest"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// TestStaleLeaderCannotWrite: the leader is paused with SIGSTOP past its
// lease mid-shift; another instance takes the lease and goes on. Resumed
// with SIGCONT, the old leader sees by its own clock that its lease ran
// out and steps down: a command sent to it as it wakes is not carried
// out, and the deployment the new leader runs is untouched (its steps in
// order, none twice, not paused, and it succeeds).
func TestStaleLeaderCannotWrite(t *testing.T) { staleLeader(t, false) }

// TestStaleLeaderWriteRefused is TestStaleLeaderCannotWrite with serve's
// BLUEGREEN_FAULT_STALE_LEADER: the old leader does not look at its own
// clock, so as it wakes it still thinks it leads and carries out a
// command itself. Its write reaches PostgreSQL with the old fencing token
// and the database refuses it; the old leader logs the refusal and steps
// down, and the new leader's state is untouched.
func TestStaleLeaderWriteRefused(t *testing.T) { staleLeader(t, true) }

var refusalLine = regexp.MustCompile(`write refused: this instance is no longer the leader \(fencing token (\d+) < (\d+)\)`)

func staleLeader(t *testing.T, fault bool) {
	url := pgtest.URL(t)
	blue, green := startBackend(t, "v1"), startBackend(t, "v2")
	o := haOptions{nodes: 3, url: url, strategy: "linear 25% every 3s", bake: "1s",
		blue: []string{blue}, green: []string{green}}
	if fault {
		// Every instance has it: the one leading when paused is not known
		// in advance. It changes nothing for a leader that is not paused.
		o.env = []string{"BLUEGREEN_FAULT_STALE_LEADER=1"}
	}
	c := newHACluster(t, o)
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
	nst, err := next.status()
	if err != nil {
		t.Fatal(err)
	}
	// Let the new leader take a step while the old one sleeps through its
	// own step deadline.
	before := len(next.deployment(id).Events)
	waitFor(t, 30*time.Second, "the new leader's next step", func() bool { return len(next.deployment(id).Events) > before })

	old.signal(syscall.SIGCONT)
	// At once, as it wakes: pause, sent to the old leader marked as
	// forwarded, so that an instance that knows it does not lead refuses
	// it rather than forward it to the new leader. One that still thinks
	// it leads carries it out itself: a write of the deployment.
	code, body := old.adminPost("/api/v1/deployments/current/pause")
	var apiErr struct {
		Error string `json:"error"`
	}
	if json.Unmarshal([]byte(body), &apiErr) == nil && apiErr.Error != "" {
		body = apiErr.Error
	}
	t.Logf("pause sent to %s as it woke: %d %s", old.name, code, strings.TrimSpace(body))
	if code < 300 {
		t.Errorf("the stale leader accepted pause: %d %s", code, body)
	}
	waitFor(t, 30*time.Second, old.name+" to step down", func() bool {
		return strings.Contains(old.logs.String(), "stepped down: lost the controller lease")
	})
	logs := old.logs.String()
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "stepped down") || strings.Contains(l, "write refused") || strings.Contains(l, "fault injection") {
			t.Logf("stale leader: %s", l)
		}
	}
	m := refusalLine.FindStringSubmatch(logs)
	if fault {
		// The refusal came from the database, end to end.
		if m == nil {
			t.Fatalf("%s did not log that the database refused its write (%q)", old.name, refusalLine)
		}
		// The refused write is pause's, or (if the controller's own pass
		// wrote first and the refusal ended the term) pause found it no
		// longer leads.
		if code != http.StatusServiceUnavailable ||
			!strings.Contains(body, "refused: this instance no longer holds the controller lease (fencing token "+m[1]+" < "+m[2]) &&
				!strings.Contains(body, "does not lead either") {
			t.Errorf("pause on the stale leader answered %d %s; want 503 with the database's refusal of token %s", code, body, m[1])
		}
		holder, token := lease(t, url)
		stale, _ := strconv.ParseInt(m[1], 10, 64)
		inForce, _ := strconv.ParseInt(m[2], 10, 64)
		if holder != nst.Cluster.Instance || token != inForce || stale >= inForce {
			t.Errorf("refused token %d < %d, lease in the database = token %d of %s; want the new leader %s's token, above the stale one",
				stale, inForce, token, holder, nst.Cluster.Instance)
		}
	} else if m == nil {
		// It saw its lease run out by its own clock before any write
		// reached the database (TestStaleLeaderWriteRefused has the
		// database refuse one).
		t.Logf("the stale leader stopped before any write reached the database")
	}
	waitFor(t, 10*time.Second, old.name+" to say it does not lead", func() bool {
		st, err := old.status()
		return err == nil && st.Cluster != nil && !st.Cluster.Leader
	})

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
	for _, ev := range end.Events {
		if ev.Phase == "paused" {
			t.Errorf("the deployment was paused (%s): the stale leader's command went through", ev.Reason)
		}
	}
	// Every route the database committed is the new leader's shift going
	// on: green never goes back.
	last, revs := -1, 0
	for rev := int64(1); rev < 50; rev++ {
		x, ok := cm.get(rev)
		if !ok {
			continue
		}
		revs++
		if g := x.weights[slot.Green]; g < last {
			t.Errorf("route revision %d gives green %d%%, after %d%%: a stale write", rev, g, last)
		} else {
			last = g
		}
	}
	t.Logf("%d route revisions committed, green ending at %d%%", revs, last)
	st, err := old.status()
	if err != nil {
		t.Fatal(err)
	}
	if st.Cluster.Leader {
		t.Error("the resumed old leader says it leads")
	}
}

// adminPost POSTs path to serve's admin API as a command another
// instance forwarded (never forwarded again), and returns the answer.
func (p *serveProc) adminPost(path string) (int, string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", "http://"+p.admin+path, nil)
	if err != nil {
		p.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	req.Header.Set("X-Bluegreen-Forwarded-By", "the-test")
	res, err := adminClient.Do(req)
	if err != nil {
		p.t.Fatalf("POST %s on %s: %v", path, p.name, err)
	}
	defer func() { _ = res.Body.Close() }()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	return res.StatusCode, string(b)
}

// lease is the controller lease as stored: holder and token.
func lease(t *testing.T, url string) (string, int64) {
	t.Helper()
	ctx := context.Background()
	conn := connectDB(t, url)
	var (
		holder string
		token  int64
	)
	if err := conn.QueryRow(ctx, `SELECT holder, token FROM bluegreen_leases WHERE app = $1`, appName).Scan(&holder, &token); err != nil {
		t.Fatal(err)
	}
	return holder, token
}
