package router

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// switchClock counts route switches and lets backend handlers wait for
// them, so "slower than the time between switches" is a fact, not a timing.
type switchClock struct {
	mu      sync.Mutex
	n       int
	changed chan struct{}
	done    chan struct{}
	once    sync.Once
}

func newSwitchClock() *switchClock {
	return &switchClock{changed: make(chan struct{}), done: make(chan struct{})}
}

func (c *switchClock) now() (int, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n, c.changed
}

func (c *switchClock) advance() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *switchClock) finish() { c.once.Do(func() { close(c.done) }) }

// waitUntil blocks until target switches happened; false when the run
// ended first.
func (c *switchClock) waitUntil(ctx context.Context, target int) bool {
	for {
		n, ch := c.now()
		if n >= target {
			return true
		}
		select {
		case <-ch:
		case <-c.done:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// TestSwitchUnderLoad drives 200 concurrent clients (short requests, slow
// requests spanning switches, and an SSE stream) while the live slot is
// flipped 100 times and the weights changed 100 times. No request may fail
// and every slow response and the stream must be served start to end by
// the slot that started it.
func TestSwitchUnderLoad(t *testing.T) {
	const (
		clients           = 200
		slowEvery         = 5 // client i is a slow client when i%slowEvery == 0
		flips             = 100
		weightChanges     = 100
		switches          = flips + weightChanges
		requestsPerSwitch = 12
		maxPerClient      = 400 // hard bound on requests per client
	)
	clock := newSwitchClock()
	var lost [numSlots]atomic.Int64 // times each slot lost all production traffic
	var slowSpanningLoss atomic.Int64

	backend := func(slot Slot) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Backend-Slot", string(slot))
			switch r.URL.Path {
			case "/short":
				_, _ = io.WriteString(w, "start:"+string(slot)+"\nend:"+string(slot)+"\n")
			case "/slow":
				lost0 := lost[slot.Index()].Load()
				n0, _ := clock.now()
				_, _ = io.WriteString(w, "start:"+string(slot)+"\n")
				_ = http.NewResponseController(w).Flush()
				clock.waitUntil(r.Context(), n0+2)
				if lost[slot.Index()].Load() > lost0 {
					slowSpanningLoss.Add(1)
				}
				_, _ = io.WriteString(w, "end:"+string(slot)+"\n")
			case "/events":
				w.Header().Set("Content-Type", "text/event-stream")
				if writeEvent(w, "start:"+string(slot)) != nil {
					return
				}
				n, _ := clock.now()
				for k := n + 1; clock.waitUntil(r.Context(), k); k++ {
					if writeEvent(w, fmt.Sprintf("tick:%s:%d", slot, lost[slot.Index()].Load())) != nil {
						return
					}
				}
				_ = writeEvent(w, "end:"+string(slot))
			default:
				http.NotFound(w, r)
			}
		})
	}

	tr := newTestRouter(t, Options{DrainTimeout: 5 * time.Minute}, false)
	for _, slot := range allSlots() {
		tr.SetBackends(slot, []string{newServer(t, backend(slot)), newServer(t, backend(slot))}, true)
	}
	t.Cleanup(clock.finish) // runs before the backends close

	transport := &http.Transport{MaxIdleConnsPerHost: clients + 10, MaxConnsPerHost: 0}
	t.Cleanup(transport.CloseIdleConnections)
	client := &http.Client{Transport: transport, Timeout: time.Minute}

	var (
		failures  atomic.Int64
		failMu    sync.Mutex
		failMsgs  []string
		completed atomic.Int64
		slowOK    atomic.Int64
		perSlot   [numSlots]atomic.Int64
		progress  = make(chan struct{}, 1)
	)
	fail := func(format string, args ...any) {
		failures.Add(1)
		failMu.Lock()
		defer failMu.Unlock()
		if len(failMsgs) < 10 {
			failMsgs = append(failMsgs, fmt.Sprintf(format, args...))
		}
	}

	// The SSE stream, opened before the switching starts.
	sse := openSSE(t, client, tr.prod.URL+"/events")
	first, err := sse.nextWithin(t)
	if err != nil {
		t.Fatal(err)
	}
	sseSlot, ok := strings.CutPrefix(first, "start:")
	if !ok {
		t.Fatalf("first event %q", first)
	}
	sseDone := make(chan error, 1)
	var sseTicks, sseLossesSeen int
	go func() {
		for {
			data, err := sse.next()
			if err != nil {
				sseDone <- fmt.Errorf("stream ended without end event: %w", err)
				return
			}
			if data == "end:"+sseSlot {
				sseDone <- nil
				return
			}
			var slot string
			var losses int
			if _, err := fmt.Sscanf(strings.ReplaceAll(data, ":", " "), "tick %s %d", &slot, &losses); err != nil || slot != sseSlot {
				sseDone <- fmt.Errorf("stream started on %s got event %q", sseSlot, data)
				return
			}
			sseTicks++
			sseLossesSeen = losses
		}
	}()

	var wg sync.WaitGroup
	for i := range clients {
		path := "/short"
		if i%slowEvery == 0 {
			path = "/slow"
		}
		wg.Go(func() {
			for range maxPerClient {
				select {
				case <-clock.done:
					return
				default:
				}
				resp, err := client.Get(tr.prod.URL + path)
				if err != nil {
					fail("GET %s: %v", path, err)
					return
				}
				body, err := io.ReadAll(resp.Body)
				if cerr := resp.Body.Close(); err == nil {
					err = cerr
				}
				slot := resp.Header.Get(HeaderSlot)
				want := "start:" + slot + "\nend:" + slot + "\n"
				switch {
				case err != nil:
					fail("GET %s: read: %v", path, err)
				case resp.StatusCode != http.StatusOK:
					fail("GET %s: status %d: %q", path, resp.StatusCode, body)
				case resp.Header.Get("X-Backend-Slot") != slot:
					fail("GET %s: router said %s, backend %s", path, slot, resp.Header.Get("X-Backend-Slot"))
				case string(body) != want:
					fail("GET %s: slot %s but body %q", path, slot, body)
				default:
					perSlot[Slot(slot).Index()].Add(1)
					if path == "/slow" {
						slowOK.Add(1)
					}
				}
				completed.Add(1)
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		})
	}

	// The switcher: one route change per requestsPerSwitch completed
	// requests, alternating a flip of the live slot and a weight change.
	live := Blue
	deadline := time.After(time.Minute)
	for k := 1; k <= switches; k++ {
		for completed.Load() < int64(k*requestsPerSwitch) {
			select {
			case <-progress:
			case <-deadline:
				clock.finish()
				t.Fatalf("switch %d: clients stalled at %d completed requests", k, completed.Load())
			}
		}
		prev := tr.Table()
		var next Table
		if k%2 == 1 {
			live = live.Other()
			next = LiveTable(live)
		} else {
			w := 1 + rand.IntN(99)
			next = Table{Live: live, Weights: map[Slot]int{live: w, live.Other(): 100 - w}}
		}
		if err := tr.SetTable(next); err != nil {
			t.Fatal(err)
		}
		for i, s := range allSlots() {
			if prev.Weights[s] > 0 && next.Weights[s] == 0 {
				lost[i].Add(1)
			}
		}
		clock.advance()
	}
	clock.finish()
	wg.Wait()
	if err := recv(t, sseDone, "end of the SSE stream"); err != nil {
		t.Fatal(err)
	}

	failMu.Lock()
	defer failMu.Unlock()
	if n := failures.Load(); n > 0 {
		t.Fatalf("%d failed requests, first ones:\n%s", n, strings.Join(failMsgs, "\n"))
	}
	t.Logf("%d requests (%d slow), blue %d green %d; SSE on %s: %d ticks, its slot lost traffic %d times; %d slow requests spanned a loss of their slot",
		completed.Load(), slowOK.Load(), perSlot[0].Load(), perSlot[1].Load(), sseSlot, sseTicks, sseLossesSeen, slowSpanningLoss.Load())
	if perSlot[0].Load() == 0 || perSlot[1].Load() == 0 {
		t.Fatal("one slot served nothing: the switches did not move traffic")
	}
	if slowOK.Load() == 0 || slowSpanningLoss.Load() == 0 {
		t.Fatal("no slow request spanned a switch that took traffic from its slot: the test proves nothing")
	}
	if sseTicks < switches || sseLossesSeen == 0 {
		t.Fatalf("SSE stream saw %d switches (want %d) and %d losses of its slot (want > 0)", sseTicks, switches, sseLossesSeen)
	}
	waitFor(t, "no request in flight after the run", func() bool {
		st := tr.Status()
		return st.Slots[Blue].Inflight == 0 && st.Slots[Green].Inflight == 0
	})
}
