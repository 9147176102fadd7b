package router

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rawSSEBackend serves SSE streams that send "data: start:<slot>\n\n",
// then the raw text the test puts on the stream's channel; WebSocket
// upgrades go to ws.
type rawSSEBackend struct {
	slot    Slot
	streams chan *rawStream
	ws      *wsBackend
	release chan struct{}
}

type rawStream struct {
	send chan string
	gone chan struct{} // closed when the proxied request was cancelled
}

func newRawSSEBackend(t *testing.T, slot Slot) (*rawSSEBackend, string) {
	b := &rawSSEBackend{slot: slot, streams: make(chan *rawStream, 16), ws: newWSBackend(slot), release: make(chan struct{})}
	addr := newServer(t, b)
	t.Cleanup(func() { close(b.release) })
	return b, addr
}

func (b *rawSSEBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if isWebSocketUpgrade(r) {
		b.ws.ServeHTTP(w, r)
		return
	}
	st := &rawStream{send: make(chan string), gone: make(chan struct{})}
	w.Header().Set("Content-Type", "text/event-stream")
	if err := writeEvent(w, "start:"+string(b.slot)); err != nil {
		return
	}
	b.streams <- st
	for {
		select {
		case raw := <-st.send:
			if _, err := io.WriteString(w, raw); err != nil {
				return
			}
			if err := http.NewResponseController(w).Flush(); err != nil {
				return
			}
		case <-r.Context().Done():
			close(st.gone)
			return
		case <-b.release:
			return
		}
	}
}

// rawSSEClient reads an SSE stream through the router byte by byte.
type rawSSEClient struct {
	br *bufio.Reader
}

func openRawSSE(t *testing.T, url string, b *rawSSEBackend) (*rawSSEClient, *rawStream) {
	t.Helper()
	s := openSSE(t, http.DefaultClient, url)
	if data, err := s.nextWithin(t); err != nil || data != "start:"+string(b.slot) {
		t.Fatalf("first event %q, %v; want start:%s", data, err, b.slot)
	}
	if got := s.resp.Header.Get(HeaderSlot); got != string(b.slot) {
		t.Fatalf("slot header %q, want %s", got, b.slot)
	}
	// The blank line after the first event.
	if line, err := s.br.ReadString('\n'); err != nil || line != "\n" {
		t.Fatalf("after the first event: %q, %v", line, err)
	}
	return &rawSSEClient{br: s.br}, recv(t, b.streams, "backend stream")
}

// readN reads exactly n bytes within waitTimeout.
func (c *rawSSEClient) readN(t *testing.T, n int) string {
	t.Helper()
	return withinTimeout(t, "stream bytes", func() (string, error) {
		buf := make([]byte, n)
		_, err := io.ReadFull(c.br, buf)
		return string(buf), err
	})
}

// rest reads to the end of the stream; err is nil at a clean end.
func (c *rawSSEClient) rest(t *testing.T) (string, error) {
	t.Helper()
	type result struct {
		s   string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		b, err := io.ReadAll(c.br)
		ch <- result{string(b), err}
	}()
	r := recv(t, ch, "end of stream")
	return r.s, r.err
}

// withinTimeout runs f and fails the test when it errs or takes longer
// than waitTimeout.
func withinTimeout[T any](t *testing.T, what string, f func() (T, error)) T {
	t.Helper()
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f()
		ch <- result{v, err}
	}()
	r := recv(t, ch, what)
	if r.err != nil {
		t.Fatalf("%s: %v", what, r.err)
	}
	return r.v
}

// sendRaw has the backend write raw on st.
func sendRaw(t *testing.T, st *rawStream, raw string) {
	t.Helper()
	select {
	case st.send <- raw:
	case <-st.gone:
		t.Fatal("backend stream was cancelled")
	case <-time.After(waitTimeout):
		t.Fatal("backend stream stuck")
	}
}

// assertRetryHint checks that tail is exactly prefix followed by a retry
// hint in the documented range.
func assertRetryHint(t *testing.T, name, tail, prefix string) {
	t.Helper()
	hint, ok := strings.CutPrefix(tail, prefix)
	ms, found := strings.CutPrefix(hint, "retry: ")
	ms, end := strings.CutSuffix(ms, "\n\n")
	n, err := strconv.Atoi(ms)
	if !ok || !found || !end || err != nil {
		t.Fatalf("%s: stream ended with %q, want %q then a retry hint", name, tail, prefix)
	}
	if lo, hi := sseRetryMin.Milliseconds(), (sseRetryMin + sseRetrySpread).Milliseconds(); int64(n) < lo || int64(n) >= hi {
		t.Fatalf("%s: retry %d ms outside [%d, %d)", name, n, lo, hi)
	}
}

// openWS opens a WebSocket through url's router on b's slot.
func openWS(t *testing.T, addr string, b *rawSSEBackend) (*wsClient, *wsBackendSide) {
	t.Helper()
	c := dialWS(t, addr, "/ws")
	if c.slot != string(b.slot) {
		t.Fatalf("websocket on slot %q, want %s", c.slot, b.slot)
	}
	if f := c.read(t); string(f.payload) != "hello "+string(b.slot) {
		t.Fatalf("greeting %q, want hello %s", f.payload, b.slot)
	}
	return c, recv(t, b.ws.conns, "backend websocket")
}

// expectBackendClosed checks the backend got a masked close 1001 from the
// router and then a normal end of the connection.
func expectBackendClosed(t *testing.T, name string, side *wsBackendSide) {
	t.Helper()
	f := recv(t, side.closeFrame, name+": close frame at the backend")
	if !f.masked || f.closeCode() != wsCloseGoingAway {
		t.Fatalf("%s: backend got close masked=%v code %d, want masked 1001", name, f.masked, f.closeCode())
	}
	if err := recv(t, side.end, name+": end of the backend connection"); err != nil {
		t.Fatalf("%s: backend connection ended with %v, want EOF", name, err)
	}
}

// Streams open on a slot that loses traffic run on until the drain
// deadline, then end cleanly: SSE after a complete event with a retry hint
// and a normal end of the chunked body, WebSockets with a close handshake
// 1001 on both sides. No connection is reset, and reconnects land on the
// new slot.
func TestStreamsEndCleanlyAtDrainDeadline(t *testing.T) {
	tr := newTestRouter(t, Options{DrainTimeout: time.Hour}, false)
	fts := &fakeTimers{}
	tr.afterFunc = fts.afterFunc
	blue, blueAddr := newRawSSEBackend(t, Blue)
	green, greenAddr := newRawSSEBackend(t, Green)
	tr.SetBackends(Blue, []string{blueAddr}, true)
	tr.SetBackends(Green, []string{greenAddr}, true)
	addr := tr.prod.Listener.Addr().String()

	const n = 3
	type sse struct {
		c  *rawSSEClient
		st *rawStream
	}
	type ws struct {
		c    *wsClient
		side *wsBackendSide
	}
	var sses []sse
	var wss []ws
	for range n {
		c, st := openRawSSE(t, tr.prod.URL+"/events", blue)
		sses = append(sses, sse{c, st})
		wc, side := openWS(t, addr, blue)
		wss = append(wss, ws{wc, side})
	}
	// The last of each stays inside an event (a frame) when the deadline
	// comes: the router has passed half of it to the client.
	sendRaw(t, sses[n-1].st, "data: half")
	if got := sses[n-1].c.readN(t, len("data: half")); got != "data: half" {
		t.Fatalf("partial event %q", got)
	}
	frame := wsFrame(wsOpText, []byte("split frame"), false)
	wss[n-1].side.part <- frame[:5]
	if got := withinTimeout(t, "half a frame", func() ([]byte, error) {
		b := make([]byte, 5)
		_, err := io.ReadFull(wss[n-1].c.br, b)
		return b, err
	}); string(got) != string(frame[:5]) {
		t.Fatalf("half a frame: %q", got)
	}

	st := tr.Status().Slots[Blue].Streams
	if st.SSE != n || st.WebSocket != n {
		t.Fatalf("blue streams %+v, want %d SSE and %d WebSocket", st, n, n)
	}

	if err := tr.SetTable(LiveTable(Green)); err != nil {
		t.Fatal(err)
	}
	// Until the deadline every stream runs on, on blue; new ones go to
	// green.
	for i := range n - 1 {
		sendRaw(t, sses[i].st, "data: ping\n\n")
		if got := sses[i].c.readN(t, len("data: ping\n\n")); got != "data: ping\n\n" {
			t.Fatalf("stream %d after the switch: %q", i, got)
		}
		wss[i].c.echo(t, "ping")
	}
	newSSE, newSt := openRawSSE(t, tr.prod.URL+"/events", green)
	newWS, _ := openWS(t, addr, green)

	timers := fts.all()
	if len(timers) != 1 {
		t.Fatalf("%d drain timers, want 1", len(timers))
	}
	timers[0].f() // the deadline

	// The streams in the middle of an event or a frame finish it first.
	sendRaw(t, sses[n-1].st, "-done\n\n")
	wss[n-1].side.raw <- frame[5:]

	for i, s := range sses {
		tail, err := s.c.rest(t)
		if err != nil {
			t.Fatalf("SSE stream %d ended with %v, want a normal end of stream", i, err)
		}
		prefix := ""
		if i == n-1 {
			prefix = "-done\n\n"
		}
		assertRetryHint(t, fmt.Sprintf("SSE stream %d", i), tail, prefix)
		recv(t, s.st.gone, "backend SSE request cancelled")
	}
	if got := withinTimeout(t, "rest of the split frame", func() ([]byte, error) {
		b := make([]byte, len(frame)-5)
		_, err := io.ReadFull(wss[n-1].c.br, b)
		return b, err
	}); string(got) != string(frame[5:]) {
		t.Fatalf("rest of the split frame: %q, want %q", got, frame[5:])
	}
	for i, w := range wss {
		name := fmt.Sprintf("websocket %d", i)
		w.c.expectGoingAway(t, name)
		expectBackendClosed(t, name, w.side)
	}

	waitFor(t, "blue streams to close", func() bool {
		st := tr.Status().Slots[Blue].Streams
		return st.SSE == 0 && st.WebSocket == 0
	})
	if st := tr.Status().Slots[Blue].Streams; st.Drained != 2*n || st.Cut != 0 {
		t.Fatalf("blue streams %+v, want %d drained and none cut", st, 2*n)
	}
	for _, c := range []struct {
		kind, outcome string
		want          float64
	}{{"sse", "drained", n}, {"websocket", "drained", n}, {"sse", "cut", 0}, {"websocket", "cut", 0}} {
		got := metricValue(t, tr, "bluegreen_streams_ended_total", "blue", c.kind, c.outcome)
		if got != c.want {
			t.Errorf("bluegreen_streams_ended_total{slot=blue,kind=%s,outcome=%s} = %v, want %v", c.kind, c.outcome, got, c.want)
		}
	}
	if got := metricValue(t, tr, "bluegreen_streams", "green", "sse", ""); got != 1 {
		t.Errorf("bluegreen_streams{slot=green,kind=sse} = %v, want 1", got)
	}

	// Streams on green were never touched; reconnects land there.
	sendRaw(t, newSt, "data: still\n\n")
	if got := newSSE.readN(t, len("data: still\n\n")); got != "data: still\n\n" {
		t.Fatalf("green stream: %q", got)
	}
	newWS.echo(t, "still")
	openRawSSE(t, tr.prod.URL+"/events", green)
	openWS(t, addr, green)
}

// A stream that cannot reach a boundary within the grace period is cut;
// a WebSocket client that never answers the close is closed after it.
func TestStreamsCutAfterGrace(t *testing.T) {
	tr := newTestRouter(t, Options{DrainTimeout: time.Hour}, false)
	tr.streamGrace = 50 * time.Millisecond
	fts := &fakeTimers{}
	tr.afterFunc = fts.afterFunc
	blue, blueAddr := newRawSSEBackend(t, Blue)
	_, greenAddr := newRawSSEBackend(t, Green)
	tr.SetBackends(Blue, []string{blueAddr}, true)
	tr.SetBackends(Green, []string{greenAddr}, true)
	addr := tr.prod.Listener.Addr().String()

	s, st := openRawSSE(t, tr.prod.URL+"/events", blue)
	sendRaw(t, st, "data: never finished")
	s.readN(t, len("data: never finished"))
	stuck, stuckSide := openWS(t, addr, blue)
	stuckSide.part <- wsFrame(wsOpText, []byte("never finished"), false)[:4]
	withinTimeout(t, "half a frame", func() (int, error) { return io.ReadFull(stuck.br, make([]byte, 4)) })
	silent, _ := openWS(t, addr, blue)

	if err := tr.SetTable(LiveTable(Green)); err != nil {
		t.Fatal(err)
	}
	fts.all()[0].f()

	// The SSE body still ends normally (the chunked encoding terminated),
	// without a retry hint: the client drops the incomplete event.
	if tail, err := s.rest(t); err != nil || tail != "" {
		t.Fatalf("cut SSE stream: %q, %v; want a normal end without more bytes", tail, err)
	}
	// The WebSocket stuck inside a frame gets no close frame.
	if n := withinTimeout(t, "stuck websocket", func() (int, error) {
		n, err := stuck.br.Read(make([]byte, 1))
		if errors.Is(err, io.EOF) {
			err = nil
		}
		return n, err
	}); n != 0 {
		t.Fatalf("stuck websocket got %d more bytes", n)
	}
	// The silent client got its close frame, and the connection closes
	// after the grace period.
	if f := silent.read(t); f.op != wsOpClose || f.closeCode() != wsCloseGoingAway {
		t.Fatalf("silent websocket: op %d code %d", f.op, f.closeCode())
	}
	withinTimeout(t, "silent websocket closed", func() (int, error) {
		n, err := silent.br.Read(make([]byte, 1))
		if errors.Is(err, io.EOF) {
			err = nil
		}
		return n, err
	})

	waitFor(t, "blue streams to close", func() bool {
		st := tr.Status().Slots[Blue].Streams
		return st.SSE == 0 && st.WebSocket == 0
	})
	if st := tr.Status().Slots[Blue].Streams; st.Drained != 1 || st.Cut != 2 {
		t.Fatalf("blue streams %+v, want 1 drained (the silent WebSocket) and 2 cut", st)
	}
}

// Shutdown (CancelAll) ends streams the same way and returns once they
// are over.
func TestCancelAllEndsStreamsCleanly(t *testing.T) {
	tr := newTestRouter(t, Options{}, false)
	blue, blueAddr := newRawSSEBackend(t, Blue)
	green, greenAddr := newRawSSEBackend(t, Green)
	tr.SetBackends(Blue, []string{blueAddr}, true)
	tr.SetBackends(Green, []string{greenAddr}, true)

	s, _ := openRawSSE(t, tr.prod.URL+"/events", blue)
	w, side := openWS(t, tr.prod.Listener.Addr().String(), blue)
	pw, pside := openWS(t, tr.preview.Listener.Addr().String(), green)

	done := make(chan struct{})
	go func() {
		tr.CancelAll(errors.New("shutting down"))
		close(done)
	}()
	tail, err := s.rest(t)
	if err != nil {
		t.Fatalf("SSE stream ended with %v", err)
	}
	assertRetryHint(t, "SSE stream", tail, "")
	w.expectGoingAway(t, "production websocket")
	pw.expectGoingAway(t, "preview websocket")
	expectBackendClosed(t, "production websocket", side)
	expectBackendClosed(t, "preview websocket", pside)
	recv(t, done, "CancelAll to return")
	for _, slot := range []Slot{Blue, Green} {
		if st := tr.Status().Slots[slot]; st.Inflight != 0 {
			t.Fatalf("%s: %d in flight after CancelAll", slot, st.Inflight)
		}
	}
}

// metricValue reads one series of the router's registry; kind and outcome
// are label values ("" leaves the label out).
func metricValue(t *testing.T, tr *testRouter, name, slot, kind, outcome string) float64 {
	t.Helper()
	mfs, err := tr.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["slot"] != slot || labels["kind"] != kind || labels["outcome"] != outcome {
				continue
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no series %s{slot=%s,kind=%s,outcome=%s}", name, slot, kind, outcome)
	return 0
}

// TestEndSlotEndsOnlyThatSlot: stopping one slot's release first ends its
// streams cleanly; the other slot's streams are left alone.
func TestEndSlotEndsOnlyThatSlot(t *testing.T) {
	tr := newTestRouter(t, Options{}, false)
	blue, blueAddr := newRawSSEBackend(t, Blue)
	green, greenAddr := newRawSSEBackend(t, Green)
	tr.SetBackends(Blue, []string{blueAddr}, true)
	tr.SetBackends(Green, []string{greenAddr}, true)

	s, _ := openRawSSE(t, tr.prod.URL+"/events", blue)
	w, side := openWS(t, tr.prod.Listener.Addr().String(), blue)
	pw, _ := openWS(t, tr.preview.Listener.Addr().String(), green)

	done := make(chan struct{})
	go func() {
		tr.EndSlot(Blue, errors.New("blue is being stopped"))
		close(done)
	}()
	tail, err := s.rest(t)
	if err != nil {
		t.Fatalf("SSE stream ended with %v", err)
	}
	assertRetryHint(t, "SSE stream", tail, "")
	w.expectGoingAway(t, "blue websocket")
	expectBackendClosed(t, "blue websocket", side)
	recv(t, done, "EndSlot to return")
	if st := tr.Status().Slots[Blue]; st.Inflight != 0 {
		t.Fatalf("blue: %d in flight after EndSlot", st.Inflight)
	}
	pw.echo(t, "green still open")
	if st := tr.Status().Slots[Green]; st.Streams.WebSocket != 1 {
		t.Fatalf("green websockets = %d after EndSlot(blue), want 1", st.Streams.WebSocket)
	}
}
