package router

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// streamBackend serves SSE streams the test drives one by one: each stream
// sends "start:<slot>", then whatever the test sends, until the request's
// context ends (recorded in gone) or the test ends.
type streamBackend struct {
	slot    Slot
	streams chan *backendStream
	release chan struct{}
}

type backendStream struct {
	send chan string
	gone chan struct{} // closed when the proxied request was cancelled
}

func newStreamBackend(t *testing.T, slot Slot) (*streamBackend, string) {
	sb := &streamBackend{slot: slot, streams: make(chan *backendStream, 16), release: make(chan struct{})}
	addr := newServer(t, sb)
	t.Cleanup(func() { close(sb.release) })
	return sb, addr
}

func (sb *streamBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := &backendStream{send: make(chan string), gone: make(chan struct{})}
	w.Header().Set("Content-Type", "text/event-stream")
	if err := writeEvent(w, "start:"+string(sb.slot)); err != nil {
		return
	}
	sb.streams <- st
	for {
		select {
		case msg := <-st.send:
			if err := writeEvent(w, msg); err != nil {
				return
			}
		case <-r.Context().Done():
			close(st.gone)
			return
		case <-sb.release:
			return
		}
	}
}

// openStream opens an SSE stream through url and returns both ends.
func openStream(t *testing.T, url string, sb *streamBackend) (*sseReader, *backendStream) {
	t.Helper()
	s := openSSE(t, http.DefaultClient, url)
	if data, err := s.nextWithin(t); err != nil || data != "start:"+string(sb.slot) {
		t.Fatalf("first event %q, %v; want start:%s", data, err, sb.slot)
	}
	return s, recv(t, sb.streams, "backend stream")
}

// assertAlive sends one event through the stream and expects it back.
func assertAlive(t *testing.T, name string, s *sseReader, bs *backendStream) {
	t.Helper()
	select {
	case bs.send <- "ping":
	case <-bs.gone:
		t.Fatalf("%s: stream was cancelled", name)
	case <-time.After(waitTimeout):
		t.Fatalf("%s: backend stream stuck", name)
	}
	if data, err := s.nextWithin(t); err != nil || data != "ping" {
		t.Fatalf("%s: got %q, %v; want ping", name, data, err)
	}
}

// assertEndedCleanly expects the stream to end with a clean EOF (the
// chunked encoding terminated, not a reset) and the backend request to be
// cancelled.
func assertEndedCleanly(t *testing.T, name string, s *sseReader, bs *backendStream) {
	t.Helper()
	if data, err := s.nextWithin(t); !errors.Is(err, io.EOF) {
		t.Fatalf("%s: got %q, %v; want a clean end of stream", name, data, err)
	}
	recv(t, bs.gone, name+": backend request cancelled")
}

func TestDrainLetsSlowRequestFinish(t *testing.T) {
	tr := newTestRouter(t, Options{DrainTimeout: time.Minute}, false)
	started := make(chan struct{})
	release := make(chan struct{})
	tr.SetBackends(Blue, []string{newServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "start:blue\n")
		_ = http.NewResponseController(w).Flush()
		close(started)
		<-release
		_, _ = io.WriteString(w, "end:blue\n")
	}))}, true)
	tr.SetBackends(Green, []string{newServer(t, slotHandler(Green))}, true)

	type result struct {
		code int
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Get(tr.prod.URL + "/slow")
		if err != nil {
			done <- result{err: err}
			return
		}
		body, err := io.ReadAll(resp.Body)
		if cerr := resp.Body.Close(); err == nil {
			err = cerr
		}
		done <- result{code: resp.StatusCode, body: string(body), err: err}
	}()
	recv(t, started, "slow request to start")

	if err := tr.SetTable(LiveTable(Green)); err != nil {
		t.Fatal(err)
	}
	st := tr.Status().Slots[Blue]
	if !st.Draining || st.DrainingRequests != 1 || st.DrainDeadline.IsZero() {
		t.Fatalf("blue after losing traffic: %+v, want draining 1 request with a deadline", st)
	}
	if _, slot, _ := get(t, http.DefaultClient, tr.prod.URL+"/", nil); slot != "green" {
		t.Fatalf("new request went to %s, want green", slot)
	}
	close(release)
	res := recv(t, done, "slow response")
	if res.err != nil || res.code != http.StatusOK || res.body != "start:blue\nend:blue\n" {
		t.Fatalf("slow request: %d %q %v; want 200 with start and end", res.code, res.body, res.err)
	}
	waitFor(t, "blue to have no draining request", func() bool { return tr.Status().Slots[Blue].DrainingRequests == 0 })
}

func TestDrainCancelsStreamAfterDeadline(t *testing.T) {
	tr := newTestRouter(t, Options{DrainTimeout: 50 * time.Millisecond}, false)
	blue, blueAddr := newStreamBackend(t, Blue)
	green, greenAddr := newStreamBackend(t, Green)
	tr.SetBackends(Blue, []string{blueAddr}, true)
	tr.SetBackends(Green, []string{greenAddr}, true)

	prod, prodBackend := openStream(t, tr.prod.URL+"/events", blue)
	prev, prevBackend := openStream(t, tr.preview.URL+"/events", green)

	if err := tr.SetTable(LiveTable(Green)); err != nil {
		t.Fatal(err)
	}
	assertEndedCleanly(t, "production stream on blue", prod, prodBackend)
	waitFor(t, "drain log line", func() bool { return strings.Contains(tr.logs.String(), "drain deadline reached") })
	logs := tr.logs.String()
	for _, want := range []string{"slot=blue", "count=1", "drain timeout", "lost production traffic"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}

	// Green served preview traffic, then production; losing production
	// traffic again drains production requests only.
	if err := tr.SetTable(LiveTable(Blue)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "green drain", func() bool {
		return strings.Contains(tr.logs.String(), `msg="drain deadline reached; no request was left to cancel" slot=green`)
	})
	assertAlive(t, "preview stream on green", prev, prevBackend)
}

// fakeTimers replaces time.AfterFunc for the drain so a test fires
// deadlines itself.
type fakeTimers struct {
	mu     sync.Mutex
	timers []*fakeTimer
}

type fakeTimer struct {
	mu      sync.Mutex
	f       func()
	stopped bool
}

func (ft *fakeTimer) Stop() bool {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	was := !ft.stopped
	ft.stopped = true
	return was
}

func (ft *fakeTimer) isStopped() bool {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return ft.stopped
}

func (fts *fakeTimers) afterFunc(_ time.Duration, f func()) stopper {
	fts.mu.Lock()
	defer fts.mu.Unlock()
	ft := &fakeTimer{f: f}
	fts.timers = append(fts.timers, ft)
	return ft
}

func (fts *fakeTimers) all() []*fakeTimer {
	fts.mu.Lock()
	defer fts.mu.Unlock()
	return append([]*fakeTimer(nil), fts.timers...)
}

func TestDrainRegainCancelsPendingDrain(t *testing.T) {
	tr := newTestRouter(t, Options{DrainTimeout: time.Hour}, false)
	fts := &fakeTimers{}
	tr.afterFunc = fts.afterFunc
	blue, blueAddr := newStreamBackend(t, Blue)
	_, greenAddr := newStreamBackend(t, Green)
	tr.SetBackends(Blue, []string{blueAddr}, true)
	tr.SetBackends(Green, []string{greenAddr}, true)

	a, aBackend := openStream(t, tr.prod.URL+"/a", blue)
	if err := tr.SetTable(LiveTable(Green)); err != nil {
		t.Fatal(err)
	}
	timers := fts.all()
	if len(timers) != 1 || timers[0].isStopped() {
		t.Fatalf("after losing traffic: %d timers, want 1 running", len(timers))
	}
	if err := tr.SetTable(LiveTable(Blue)); err != nil {
		t.Fatal(err)
	}
	if !timers[0].isStopped() {
		t.Fatal("regaining traffic did not stop the pending drain")
	}
	if st := tr.Status().Slots[Blue]; st.Draining {
		t.Fatalf("blue still draining after regaining traffic: %+v", st)
	}

	// A request that starts after the slot regained traffic.
	b, bBackend := openStream(t, tr.prod.URL+"/b", blue)

	// The stopped timer firing anyway (a Stop that lost the race) must not
	// cancel anything.
	timers[0].f()
	assertAlive(t, "stream started before the cancelled drain", a, aBackend)
	assertAlive(t, "stream started after regaining traffic", b, bBackend)
	d := &tr.slots[Blue.Index()].drain
	d.mu.Lock()
	for _, e := range append(d.retired, d.production.Load()) {
		if cause := e.cancelled(); cause != nil {
			t.Errorf("an epoch of blue was cancelled by a stale drain: %v", cause)
		}
	}
	d.mu.Unlock()

	// Losing traffic again: both streams started before this switch and
	// are cancelled at its deadline.
	if err := tr.SetTable(LiveTable(Green)); err != nil {
		t.Fatal(err)
	}
	// Timers so far: blue's first drain, green's (it lost traffic when
	// blue regained it), blue's second.
	timers = fts.all()
	if len(timers) != 3 || timers[2].isStopped() {
		t.Fatalf("%d timers, want 3 with the last running", len(timers))
	}
	timers[2].f()
	assertEndedCleanly(t, "stream a", a, aBackend)
	assertEndedCleanly(t, "stream b", b, bBackend)
	if logs := tr.logs.String(); !strings.Contains(logs, "slot=blue count=2") {
		t.Fatalf("no drain log with both requests:\n%s", logs)
	}
}

func TestCancelAll(t *testing.T) {
	tr := newTestRouter(t, Options{}, false)
	blue, blueAddr := newStreamBackend(t, Blue)
	green, greenAddr := newStreamBackend(t, Green)
	tr.SetBackends(Blue, []string{blueAddr}, true)
	tr.SetBackends(Green, []string{greenAddr}, true)

	prod, prodBackend := openStream(t, tr.prod.URL+"/events", blue)
	prev, prevBackend := openStream(t, tr.preview.URL+"/events", green)
	tr.CancelAll(errors.New("shutdown grace period over"))
	assertEndedCleanly(t, "production stream", prod, prodBackend)
	assertEndedCleanly(t, "preview stream", prev, prevBackend)
	if logs := tr.logs.String(); !strings.Contains(logs, "shutdown grace period over") {
		t.Fatalf("cause not logged:\n%s", logs)
	}
	// Requests after CancelAll are served.
	again, againBackend := openStream(t, tr.prod.URL+"/events", blue)
	assertAlive(t, "stream after CancelAll", again, againBackend)
}

// An epoch cancels exactly the requests registered on it and not yet
// unregistered, and a request that registers after the epoch was cancelled
// (it loaded the epoch just before a drain retired it) is cancelled at once.
func TestEpochRegistration(t *testing.T) {
	e := newEpoch()
	causes := map[string]error{}
	cancelFunc := func(name string) context.CancelCauseFunc {
		return func(cause error) { causes[name] = cause }
	}
	done := e.register(cancelFunc("done"))
	running := e.register(cancelFunc("running"))
	last := e.register(cancelFunc("last"))
	e.unregister(done)
	if n := e.inflight.Load(); n != 2 {
		t.Fatalf("inflight %d, want 2", n)
	}

	cause := errors.New("drain deadline")
	e.cancel(cause)
	e.cancel(errors.New("a second cancel is ignored"))
	late := e.register(cancelFunc("late"))
	for _, name := range []string{"running", "last", "late"} {
		if causes[name] != cause {
			t.Errorf("request %s: cancelled with %v, want %v", name, causes[name], cause)
		}
	}
	if _, ok := causes["done"]; ok {
		t.Error("a request that had finished was cancelled")
	}
	for _, r := range []*epochReq{running, last, late} {
		e.unregister(r)
	}
	if n := e.inflight.Load(); n != 0 {
		t.Fatalf("inflight %d after all requests finished, want 0", n)
	}
	if got := e.cancelled(); got != cause {
		t.Fatalf("cancelled() = %v, want %v", got, cause)
	}
}
