package router

import (
	"net/http"
	"testing"
	"time"
)

// heldBackend answers every request once release is closed, and tells
// started when a request arrives.
func heldBackend(t *testing.T, started chan<- struct{}, release <-chan struct{}) string {
	t.Helper()
	return newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusOK)
	}))
}

// A slot without traffic is drained when nothing is in flight on it; a
// request in flight holds it up until drain_timeout after the stop began,
// no longer; a slot with traffic is never drained.
func TestDrainedWaitsForRequestsInFlight(t *testing.T) {
	tr := newTestRouter(t, Options{DrainTimeout: 30 * time.Second}, false)
	started, release := make(chan struct{}, 1), make(chan struct{})
	tr.SetBackends(Blue, []string{newServer(t, slotHandler(Blue))}, true)
	tr.SetBackends(Green, []string{heldBackend(t, started, release)}, true)

	if drained, _ := tr.Drained(Blue, time.Now()); drained {
		t.Fatal("live blue drained, want not")
	}
	if drained, wait := tr.Drained(Green, time.Now()); !drained || wait != 0 {
		t.Fatalf("idle green with nothing in flight: drained %v, wait %s; want drained", drained, wait)
	}

	// A preview request holds green.
	done := make(chan int, 1)
	go func() {
		resp, err := http.Get(tr.preview.URL + "/slow")
		if err != nil {
			done <- 0
			return
		}
		_ = resp.Body.Close()
		done <- resp.StatusCode
	}()
	recv(t, started, "the request on green")
	if drained, wait := tr.Drained(Green, time.Now()); drained || wait <= 0 || wait > inflightRecheck {
		t.Fatalf("green with a request in flight: drained %v, wait %s; want not, ask again within %s", drained, wait, inflightRecheck)
	}
	if drained, _ := tr.Drained(Green, time.Now().Add(-31*time.Second)); !drained {
		t.Fatal("green 31s into its stop: not drained, want drained (drain_timeout 30s is over)")
	}

	close(release)
	if code := recv(t, done, "the held request's answer"); code != http.StatusOK {
		t.Fatalf("held request: status %d", code)
	}
	waitFor(t, "green idle", func() bool { drained, _ := tr.Drained(Green, time.Now()); return drained })
}

// MCP sessions pinned to a slot hold up its stop until its session drain
// ends, however long ago the stop began; a request still in flight then
// gets the drain timeout from the end of the session drain.
func TestDrainedWaitsForSessionsFirst(t *testing.T) {
	tr := newTestRouter(t, Options{
		DrainTimeout: 30 * time.Second, SessionDrain: 10 * time.Minute,
		MCPSessions: true, MCPSessionTTL: time.Hour,
	}, false)
	clock := &fakeClock{now: time.Unix(1_000_000, 0)}
	tr.sessions.now = clock.Now
	started, release := make(chan struct{}, 1), make(chan struct{})
	tr.SetBackends(Blue, []string{newServer(t, slotHandler(Blue))}, true)
	tr.SetBackends(Green, []string{heldBackend(t, started, release)}, true)
	// Green lost its traffic at lost, with one session pinned to it.
	lost := clock.Now()
	tr.RestoreSessions([]SessionPin{{ID: "s1", Slot: Green, LastUsed: lost}}, lost)
	stop := lost // the stop began when it lost its traffic

	clock.advance(4 * time.Minute)
	if drained, wait := tr.Drained(Green, stop); drained || wait != sessionRecheck {
		t.Fatalf("green with a session 4m into a 10m session drain: drained %v, wait %s; want not, %s", drained, wait, sessionRecheck)
	}
	done := make(chan error, 1)
	go func() {
		resp, err := http.Get(tr.preview.URL + "/slow")
		if err == nil {
			err = resp.Body.Close()
		}
		done <- err
	}()
	recv(t, started, "the request on green")

	clock.advance(6*time.Minute + 10*time.Second) // the session drain ended 10s ago
	if drained, wait := tr.Drained(Green, stop); drained || wait <= 0 || wait > inflightRecheck {
		t.Fatalf("green 10s after its session drain, a request in flight: drained %v, wait %s; want not, within %s", drained, wait, inflightRecheck)
	}
	clock.advance(21 * time.Second)
	if drained, _ := tr.Drained(Green, stop); !drained {
		t.Fatal("green 31s after its session drain: not drained, want drained (drain_timeout 30s is over)")
	}
	close(release)
	if err := recv(t, done, "the held request's answer"); err != nil {
		t.Fatal(err)
	}
}
