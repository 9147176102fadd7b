package hae2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// load is bounded traffic spread over the routers' production listeners,
// as an L4 load balancer would: client i sends to router i mod n, and to
// the next live one once its router is marked down.
type load struct {
	targets []string
	down    []atomic.Bool
	pause   time.Duration // between a client's requests

	mu      sync.Mutex
	samples []sample
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// sample is one request's outcome.
type sample struct {
	router  int
	sent    time.Time
	version string // "" when it failed
	err     string
}

func startLoad(targets []string, clients int, pause time.Duration) *load {
	l := &load{targets: targets, down: make([]atomic.Bool, len(targets)), pause: pause}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	for i := range clients {
		l.wg.Go(func() { l.client(ctx, i) })
	}
	return l
}

// markDown sends router i's clients elsewhere from now on.
func (l *load) markDown(i int) { l.down[i].Store(true) }

func (l *load) stop() []sample {
	l.cancel()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.samples
}

func (l *load) snapshot() []sample {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]sample(nil), l.samples...)
}

func (l *load) client(ctx context.Context, i int) {
	tr := &http.Transport{MaxIdleConnsPerHost: 1, IdleConnTimeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for ctx.Err() == nil {
		r := i % len(l.targets)
		for k := 0; l.down[r].Load() && k < len(l.targets); k++ {
			r = (r + 1) % len(l.targets)
		}
		s := sample{router: r, sent: time.Now()}
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+l.targets[r]+"/shop", nil)
		res, err := c.Do(req)
		switch {
		case ctx.Err() != nil:
			return // the load stopped mid-request: not a sample
		case err != nil:
			s.err = err.Error()
		default:
			body, rerr := io.ReadAll(io.LimitReader(res.Body, 64))
			_ = res.Body.Close()
			switch v := string(body); {
			case rerr != nil:
				s.err = rerr.Error()
			case res.StatusCode != 200:
				s.err = fmt.Sprintf("status %d: %s", res.StatusCode, v)
			case v != "v1" && v != "v2":
				s.err = "unexpected body " + v
			default:
				s.version = v
			}
		}
		l.mu.Lock()
		l.samples = append(l.samples, s)
		l.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(l.pause):
		}
	}
}
