package hae2e

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// commit is one route revision as the leader committed it.
type commit struct {
	rev     int64
	at      time.Time // the route's updated_at: written just before its commit
	weights map[slot.Slot]int
}

// commits follows the stored route in the database (LISTEN on the
// channel the store notifies), independently of bluegreen.
type commits struct {
	mu   sync.Mutex
	revs map[int64]commit
}

func watchCommits(t *testing.T, url string) *commits {
	t.Helper()
	c := &commits{revs: map[int64]commit{}}
	ctx, cancel := context.WithCancel(context.Background())
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "LISTEN bluegreen_routes"); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				return
			}
			revText, _, _ := strings.Cut(n.Payload, " ")
			rev, _ := strconv.ParseInt(revText, 10, 64)
			var (
				cm      commit
				weights []byte
			)
			err = conn.QueryRow(ctx, `SELECT rev, updated_at, weights FROM bluegreen_routes WHERE app = $1`, appName).
				Scan(&cm.rev, &cm.at, &weights)
			if err != nil || cm.rev != rev {
				continue // a newer one came meanwhile; its own notification follows
			}
			_ = json.Unmarshal(weights, &cm.weights)
			c.mu.Lock()
			c.revs[rev] = cm
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = conn.Close(context.Background())
	})
	return c
}

func (c *commits) get(rev int64) (commit, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cm, ok := c.revs[rev]
	return cm, ok
}

// routerWatch polls each router's status and keeps, per router, every
// revision it reported with the time it applied it.
type routerWatch struct {
	mu   sync.Mutex
	seen []map[int64]time.Time
	stop func()
}

func watchRouters(t *testing.T, procs []*serveProc, every time.Duration) *routerWatch {
	w := &routerWatch{seen: make([]map[int64]time.Time, len(procs))}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i, p := range procs {
		w.seen[i] = map[int64]time.Time{}
		wg.Go(func() {
			for ctx.Err() == nil {
				if st, err := p.status(); err == nil && st.Cluster != nil && st.Cluster.RouteRev > 0 {
					w.mu.Lock()
					if _, ok := w.seen[i][st.Cluster.RouteRev]; !ok {
						w.seen[i][st.Cluster.RouteRev] = st.Cluster.RouteAppliedAt
					}
					w.mu.Unlock()
				}
				select {
				case <-ctx.Done():
				case <-time.After(every):
				}
			}
		})
	}
	w.stop = func() { cancel(); wg.Wait() }
	t.Cleanup(w.stop)
	return w
}

// at is when router i applied rev (ok false: not seen).
func (w *routerWatch) at(i int, rev int64) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.seen[i][rev]
	return t, ok
}

// rev is the revision in force on router i at time t (0: none seen).
func (w *routerWatch) revAt(i int, t time.Time) (rev int64, since time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for r, at := range w.seen[i] {
		if !at.After(t) && r > rev {
			rev, since = r, at
		}
	}
	return rev, since
}
