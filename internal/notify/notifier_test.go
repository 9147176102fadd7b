package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/bluegreen-dev/bluegreen/internal/capture"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// deadline bounds every wait in these tests; reaching it is a failure.
const deadline = 10 * time.Second

// fast are the options every test starts from: quick retries.
func fast(extra ...Option) []Option {
	return append([]Option{WithBackoff(time.Millisecond, 5*time.Millisecond), WithGrace(deadline)}, extra...)
}

// hook is a webhook receiver that records every request.
type hook struct {
	srv *httptest.Server
	// respond picks the status for a request: call is 1 for the first
	// request carrying this event id, 2 for its first retry, and so on.
	respond func(r *http.Request, eventID int64, call int) int

	mu      sync.Mutex
	calls   map[int64]int
	bodies  []map[string]any
	headers []http.Header
	arrived chan int64 // every request's event id, as it arrives
}

func newHook(t *testing.T, respond func(r *http.Request, eventID int64, call int) int) *hook {
	t.Helper()
	h := &hook{respond: respond, calls: map[int64]int{}, arrived: make(chan int64, 1000)}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) serve(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id := int64(body["id"].(float64))
	h.mu.Lock()
	h.calls[id]++
	call := h.calls[id]
	h.bodies = append(h.bodies, body)
	h.headers = append(h.headers, r.Header.Clone())
	h.mu.Unlock()
	h.arrived <- id
	status := http.StatusOK
	if h.respond != nil {
		status = h.respond(r, id, call)
	}
	w.WriteHeader(status)
}

func (h *hook) callsFor(id int64) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls[id]
}

// waitArrival waits for the next request and returns its event id.
func (h *hook) waitArrival(t *testing.T) int64 {
	t.Helper()
	select {
	case id := <-h.arrived:
		return id
	case <-time.After(deadline):
		t.Fatalf("no webhook request within %s", deadline)
		return 0
	}
}

// host is the url_host label of the hook.
func (h *hook) host() string { return strings.TrimPrefix(h.srv.URL, "http://") }

// running is a Notifier's Run in a goroutine.
type running struct {
	events chan store.Event
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned, err set
	err    error
}

func start(t *testing.T, n *Notifier, app string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{events: make(chan store.Event), cancel: cancel, done: make(chan struct{})}
	go func() {
		r.err = n.Run(ctx, r.events, app)
		close(r.done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(2 * deadline):
			t.Errorf("Run did not return after cancel")
		}
	})
	return r
}

func (r *running) send(t *testing.T, ev store.Event) {
	t.Helper()
	select {
	case r.events <- ev:
	case <-time.After(deadline):
		t.Fatalf("Run did not take event %d within %s", ev.ID, deadline)
	}
}

// stop cancels Run and waits for it to return.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
		if r.err != nil {
			t.Fatalf("Run: %v", r.err)
		}
	case <-time.After(2 * deadline):
		t.Fatalf("Run did not return within %s of cancel", 2*deadline)
	}
}

func event(id int64) store.Event {
	return store.Event{ID: id, DeploymentID: 12, Time: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC), Phase: "shifting", Reason: fmt.Sprintf("event %d", id)}
}

// counter reads one counter from reg; 0 if the series does not exist.
func counter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if matches(m, labels) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func matches(m *dto.Metric, labels map[string]string) bool {
	got := map[string]string{}
	for _, lp := range m.GetLabel() {
		got[lp.GetName()] = lp.GetValue()
	}
	for k, v := range labels {
		if got[k] != v {
			return false
		}
	}
	return true
}

// eventually waits until cond holds, failing with what after the deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("not within %s: %s", deadline, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func deliveries(t *testing.T, reg *prometheus.Registry, host string, o outcome) float64 {
	t.Helper()
	return counter(t, reg, "bluegreen_webhook_deliveries_total", map[string]string{"url_host": host, "outcome": string(o)})
}

func TestDeliversEventAsJSONWithText(t *testing.T) {
	h := newHook(t, nil)
	reg := prometheus.NewRegistry()
	n := New([]string{h.srv.URL + "/deploys"}, nil, nil, reg, fast()...)
	r := start(t, n, "shop")

	ev := store.Event{
		ID: 41, DeploymentID: 12, Time: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC),
		Phase: "shifting", Reason: "step 3 of 10", Data: json.RawMessage(`{"slot":"green","weight":30}`),
	}
	r.send(t, ev)
	h.waitArrival(t)

	h.mu.Lock()
	body, hdr := h.bodies[0], h.headers[0]
	h.mu.Unlock()
	want := map[string]any{
		"id":            float64(41),
		"deployment_id": float64(12),
		"time":          "2025-03-04T05:06:07Z",
		"phase":         "shifting",
		"reason":        "step 3 of 10",
		"data":          map[string]any{"slot": "green", "weight": float64(30)},
		"app":           "shop",
		"text":          "shop: deployment 12 → shifting (green 30%): step 3 of 10",
	}
	if len(body) != len(want) {
		t.Errorf("body has keys %v, want exactly %d keys", keys(body), len(want))
	}
	for k, v := range want {
		gotJSON, _ := json.Marshal(body[k])
		wantJSON, _ := json.Marshal(v)
		if string(gotJSON) != string(wantJSON) {
			t.Errorf("body[%q] = %s, want %s", k, gotJSON, wantJSON)
		}
	}
	if ct := hdr.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if id := hdr.Get("X-Bluegreen-Event-Id"); id != "41" {
		t.Errorf("X-Bluegreen-Event-Id = %q, want 41", id)
	}
	eventually(t, "delivered counted", func() bool { return deliveries(t, reg, h.host(), outcomeDelivered) == 1 })
	r.stop(t)
	if got := h.callsFor(41); got != 1 {
		t.Errorf("event delivered %d times, want 1", got)
	}
}

func keys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestDeliversToEveryURLInOrder(t *testing.T) {
	a, b := newHook(t, nil), newHook(t, nil)
	n := New([]string{a.srv.URL, b.srv.URL}, nil, nil, nil, fast()...)
	r := start(t, n, "shop")
	for id := int64(1); id <= 5; id++ {
		r.send(t, event(id))
	}
	for _, h := range []*hook{a, b} {
		for want := int64(1); want <= 5; want++ {
			if got := h.waitArrival(t); got != want {
				t.Fatalf("%s got event %d, want %d (in order)", h.host(), got, want)
			}
		}
	}
}

func TestEventText(t *testing.T) {
	for _, tc := range []struct {
		name string
		ev   store.Event
		want string
	}{
		{"slot and weight", store.Event{DeploymentID: 12, Phase: "shifting", Reason: "step 3 of 10", Data: json.RawMessage(`{"slot":"green","weight":30,"step":3}`)},
			"shop: deployment 12 → shifting (green 30%): step 3 of 10"},
		{"weights map sorted", store.Event{DeploymentID: 3, Phase: "paused", Data: json.RawMessage(`{"weights":{"green":12.5,"blue":87.5}}`)},
			"shop: deployment 3 → paused (blue 87.5%, green 12.5%)"},
		{"weight without slot", store.Event{DeploymentID: 12, Phase: "shifting", Reason: "step 3 of 10", Data: json.RawMessage(`{"weight":30,"step":3}`)},
			"shop: deployment 12 → shifting (30% of traffic): step 3 of 10"},
		{"zero weight without slot", store.Event{DeploymentID: 12, Phase: "verifying", Data: json.RawMessage(`{"weight":0,"step":0}`)},
			"shop: deployment 12 → verifying"},
		{"no data no reason", store.Event{DeploymentID: 1, Phase: "succeeded"}, "shop: deployment 1 → succeeded"},
		{"data without traffic", store.Event{DeploymentID: 1, Phase: "failed", Reason: "check tools failed", Data: json.RawMessage(`{"checks":[1,2]}`)},
			"shop: deployment 1 → failed: check tools failed"},
		{"data not an object", store.Event{DeploymentID: 1, Phase: "failed", Data: json.RawMessage(`[1]`)}, "shop: deployment 1 → failed"},
		{"audit entry", store.Event{ID: -7, Phase: PhaseAudit, Reason: "session:ab12cd34ef56 rollback: ok", Data: json.RawMessage(`{"kind":"audit"}`)},
			"shop: admin action by session:ab12cd34ef56 rollback: ok"},
		{"slack escapes", store.Event{DeploymentID: 2, Phase: "rolling_back", Reason: "p99 > 1.5× live & <error>"},
			"shop: deployment 2 → rolling_back: p99 &gt; 1.5× live &amp; &lt;error&gt;"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := eventText("shop", tc.ev); got != tc.want {
				t.Errorf("eventText = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRetriesTransientFailures(t *testing.T) {
	for _, status := range []int{500, 502, 503, 408, 429} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			h := newHook(t, func(_ *http.Request, _ int64, call int) int {
				if call <= 2 {
					return status
				}
				return http.StatusNoContent
			})
			reg := prometheus.NewRegistry()
			n := New([]string{h.srv.URL}, nil, nil, reg, fast()...)
			r := start(t, n, "shop")
			r.send(t, event(1))
			eventually(t, "delivered after retries", func() bool { return deliveries(t, reg, h.host(), outcomeDelivered) == 1 })
			if got := h.callsFor(1); got != 3 {
				t.Errorf("event tried %d times, want 3 (two %d, then 204)", got, status)
			}
			if got := deliveries(t, reg, h.host(), outcomeFailed); got != 0 {
				t.Errorf("failed = %v, want 0", got)
			}
		})
	}
}

func TestRetriesConnectionErrors(t *testing.T) {
	// The first attempt's connection is cut before any response.
	h := newHook(t, nil)
	h.respond = func(r *http.Request, _ int64, call int) int {
		if call == 1 {
			panic(http.ErrAbortHandler)
		}
		return http.StatusOK
	}
	reg := prometheus.NewRegistry()
	n := New([]string{h.srv.URL}, nil, nil, reg, fast()...)
	r := start(t, n, "shop")
	r.send(t, event(1))
	eventually(t, "delivered after a cut connection", func() bool { return deliveries(t, reg, h.host(), outcomeDelivered) == 1 })
	if got := h.callsFor(1); got != 2 {
		t.Errorf("event tried %d times, want 2", got)
	}
}

func TestDoesNotRetryPermanentFailures(t *testing.T) {
	for _, status := range []int{400, 401, 403, 404, 410, 422} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			// Event 1 is refused, event 2 accepted. A URL's events go out in
			// order, so once event 2 arrived, event 1 is settled.
			h := newHook(t, func(_ *http.Request, id int64, _ int) int {
				if id == 1 {
					return status
				}
				return http.StatusOK
			})
			reg := prometheus.NewRegistry()
			n := New([]string{h.srv.URL}, nil, nil, reg, fast()...)
			r := start(t, n, "shop")
			r.send(t, event(1))
			r.send(t, event(2))
			for h.waitArrival(t) != 2 {
			}
			if got := h.callsFor(1); got != 1 {
				t.Errorf("event refused with %d was tried %d times, want 1", status, got)
			}
			eventually(t, "rejected counted", func() bool { return deliveries(t, reg, h.host(), outcomeRejected) == 1 })
		})
	}
}

func TestGivesUpAfterAttempts(t *testing.T) {
	h := newHook(t, func(*http.Request, int64, int) int { return http.StatusInternalServerError })
	reg := prometheus.NewRegistry()
	n := New([]string{h.srv.URL}, nil, nil, reg, fast(WithAttempts(3))...)
	r := start(t, n, "shop")
	r.send(t, event(1))
	eventually(t, "failed counted", func() bool { return deliveries(t, reg, h.host(), outcomeFailed) == 1 })
	if got := h.callsFor(1); got != 3 {
		t.Errorf("event tried %d times, want 3", got)
	}
}

func TestHangingWebhookDoesNotDelayOthers(t *testing.T) {
	release := make(chan struct{})
	hanging := newHook(t, func(r *http.Request, _ int64, _ int) int {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return http.StatusOK
	})
	t.Cleanup(func() { close(release) }) // runs before the server closes
	healthy := newHook(t, nil)
	// A long attempt timeout: were deliveries serialised across URLs, the
	// healthy hook would wait on the hanging one past the test's deadline.
	n := New([]string{hanging.srv.URL, healthy.srv.URL}, nil, nil, nil, fast(WithAttemptTimeout(time.Hour), WithGrace(10*time.Millisecond))...)
	r := start(t, n, "shop")
	for id := int64(1); id <= 3; id++ {
		r.send(t, event(id))
	}
	if got := hanging.waitArrival(t); got != 1 {
		t.Fatalf("hanging hook got event %d first, want 1", got)
	}
	for want := int64(1); want <= 3; want++ {
		if got := healthy.waitArrival(t); got != want {
			t.Fatalf("healthy hook got event %d, want %d", got, want)
		}
	}
	select {
	case <-release:
		t.Fatal("hanging hook released early; the test proves nothing")
	default:
	}
}

func TestDropsOldestWhenQueueFull(t *testing.T) {
	release := make(chan struct{})
	h := newHook(t, func(r *http.Request, id int64, _ int) int {
		if id == 1 {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		return http.StatusOK
	})
	reg := prometheus.NewRegistry()
	logs := &capture.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	n := New([]string{h.srv.URL}, nil, logger, reg, fast(WithQueueSize(2))...)
	r := start(t, n, "shop")

	r.send(t, event(1))
	if got := h.waitArrival(t); got != 1 {
		t.Fatalf("first request carried event %d, want 1", got)
	}
	// Event 1 is in flight and held; the queue holds 2: 2 and 3 are
	// pushed out by 4 and 5. Run must take every event without blocking.
	for id := int64(2); id <= 5; id++ {
		r.send(t, event(id))
	}
	dropped := func() float64 {
		return counter(t, reg, "bluegreen_webhook_dropped_total", map[string]string{"url_host": h.host()})
	}
	eventually(t, "two drops counted", func() bool { return dropped() == 2 })
	close(release)
	for _, want := range []int64{4, 5} {
		if got := h.waitArrival(t); got != want {
			t.Fatalf("after the held event, got event %d, want %d", got, want)
		}
	}
	r.stop(t)
	if got := dropped(); got != 2 {
		t.Errorf("dropped = %v, want 2", got)
	}
	for _, id := range []int64{2, 3} {
		if got := h.callsFor(id); got != 0 {
			t.Errorf("dropped event %d was sent %d times", id, got)
		}
	}
	if !strings.Contains(logs.String(), "dropped the oldest event") {
		t.Errorf("drop not logged; logs:\n%s", logs)
	}
}

func TestSecretsInURLNeverLogged(t *testing.T) {
	const (
		user      = "hookuser"
		password  = "hunter2pass"
		token     = "SEKRETquerytoken"
		deadToken = "SEKRETdeadtoken"
	)
	var gotUser, gotPass string
	var mu sync.Mutex
	h := newHook(t, func(r *http.Request, _ int64, _ int) int {
		mu.Lock()
		gotUser, gotPass, _ = r.BasicAuth()
		mu.Unlock()
		return http.StatusInternalServerError
	})
	// Chat webhooks (Slack, Discord) keep their secret in the path.
	const pathSecret = "T000-B000-pathsecret"
	withSecrets := strings.Replace(h.srv.URL, "http://", "http://"+user+":"+password+"@", 1) + "/hooks/deploy/" + pathSecret + "?token=" + token + "&x=1"

	// A URL nothing listens on: the client's error quotes the whole URL.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadHost := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	dead := "http://" + user + ":" + password + "@" + deadHost + "/dead?token=" + url.QueryEscape(deadToken)

	logs := &capture.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg := prometheus.NewRegistry()
	n := New([]string{
		withSecrets,
		dead,
		"ftp://" + user + ":" + password + "@example.com/x?token=" + token, // refused: scheme
		"http://" + user + ":" + password + "@[::1/x?token=" + token,       // refused: does not parse
	}, nil, logger, reg, fast(WithAttempts(2))...)
	r := start(t, n, "shop")
	r.send(t, event(1))
	eventually(t, "both URLs gave up", func() bool {
		return deliveries(t, reg, h.host(), outcomeFailed) == 1 && deliveries(t, reg, deadHost, outcomeFailed) == 1
	})
	r.stop(t)

	mu.Lock()
	if gotUser != user || gotPass != password {
		t.Errorf("webhook got basic auth %q/%q, want the URL's userinfo", gotUser, gotPass)
	}
	mu.Unlock()
	out := logs.String()
	for _, secret := range []string{password, user, token, deadToken, url.QueryEscape(deadToken), pathSecret} {
		if strings.Contains(out, secret) {
			t.Errorf("logs contain the secret %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{h.srv.URL + "/hooks/...", "http://" + deadHost + "/dead", "ftp://example.com/x", "webhook skipped"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q:\n%s", want, out)
		}
	}
}

func TestFlushesQueueOnShutdown(t *testing.T) {
	release := make(chan struct{})
	h := newHook(t, func(r *http.Request, id int64, _ int) int {
		if id == 1 {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		return http.StatusOK
	})
	n := New([]string{h.srv.URL}, nil, nil, nil, fast()...)
	r := start(t, n, "shop")
	for id := int64(1); id <= 3; id++ {
		r.send(t, event(id))
	}
	h.waitArrival(t)
	r.cancel() // shutdown begins while 2 and 3 are queued
	close(release)
	r.stop(t)
	for id := int64(1); id <= 3; id++ {
		if got := h.callsFor(id); got != 1 {
			t.Errorf("event %d delivered %d times during the grace, want 1", id, got)
		}
	}
}

func TestShutdownBoundedByGrace(t *testing.T) {
	h := newHook(t, func(r *http.Request, _ int64, _ int) int {
		<-r.Context().Done() // never answers
		return http.StatusOK
	})
	reg := prometheus.NewRegistry()
	n := New([]string{h.srv.URL}, nil, nil, reg, WithGrace(50*time.Millisecond), WithAttemptTimeout(time.Hour))
	r := start(t, n, "shop")
	r.send(t, event(1))
	r.send(t, event(2))
	h.waitArrival(t)
	r.stop(t) // fails the test if Run does not return
	if got := deliveries(t, reg, h.host(), outcomeFailed); got != 1 {
		t.Errorf("failed = %v, want 1 (the cancelled in-flight event)", got)
	}
	if got := h.callsFor(2); got != 0 {
		t.Errorf("event 2 sent after the grace ended")
	}
}

func TestReturnsWhenEventsClose(t *testing.T) {
	h := newHook(t, nil)
	n := New([]string{h.srv.URL}, nil, nil, nil, fast()...)
	events := make(chan store.Event, 2)
	events <- event(1)
	events <- event(2)
	close(events)
	done := make(chan error, 1)
	go func() { done <- n.Run(context.Background(), events, "shop") }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(deadline):
		t.Fatal("Run did not return after the channel closed")
	}
	for id := int64(1); id <= 2; id++ {
		if got := h.callsFor(id); got != 1 {
			t.Errorf("event %d delivered %d times, want 1", id, got)
		}
	}
}

func TestNoURLsStillConsumes(t *testing.T) {
	n := New(nil, nil, nil, nil)
	r := start(t, n, "shop")
	for id := int64(1); id <= 3; id++ {
		r.send(t, event(id)) // fails if Run stopped reading
	}
	r.stop(t)
}

func TestSharedRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	logs := &capture.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	New(nil, nil, logger, reg)
	New(nil, nil, logger, reg)
	if strings.Contains(logs.String(), "not registered") {
		t.Errorf("second Notifier on one registry logged an error:\n%s", logs)
	}
}

func TestBackoff(t *testing.T) {
	n := New(nil, nil, nil, nil, WithBackoff(100*time.Millisecond, time.Second))
	for _, tc := range []struct {
		attempt    int
		retryAfter time.Duration
		lo, hi     time.Duration
	}{
		{1, 0, 50 * time.Millisecond, 100 * time.Millisecond},
		{2, 0, 100 * time.Millisecond, 200 * time.Millisecond},
		{4, 0, 400 * time.Millisecond, 800 * time.Millisecond},
		{5, 0, 500 * time.Millisecond, time.Second}, // capped at 1s
		{30, 0, 500 * time.Millisecond, time.Second},
		{1, 700 * time.Millisecond, 700 * time.Millisecond, 700 * time.Millisecond}, // Retry-After wins
		{1, time.Hour, time.Second, time.Second},                                    // but is capped
	} {
		for range 50 {
			if d := n.backoff(tc.attempt, tc.retryAfter); d < tc.lo || d > tc.hi {
				t.Fatalf("backoff(%d, %s) = %s, want in [%s, %s]", tc.attempt, tc.retryAfter, d, tc.lo, tc.hi)
			}
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"3", 3 * time.Second},
		{"-1", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	} {
		if got := retryAfter(tc.in, now); got != tc.want {
			t.Errorf("retryAfter(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	var followed atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { followed.Add(1) }))
	t.Cleanup(target.Close)
	redirect := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusFound))
	t.Cleanup(redirect.Close)
	reg := prometheus.NewRegistry()
	n := New([]string{redirect.URL}, nil, nil, reg, fast()...)
	r := start(t, n, "shop")
	r.send(t, event(1))
	host := strings.TrimPrefix(redirect.URL, "http://")
	eventually(t, "redirect settled", func() bool {
		return deliveries(t, reg, host, outcomeRejected)+deliveries(t, reg, host, outcomeDelivered) == 1
	})
	r.stop(t)
	if got := followed.Load(); got != 0 {
		t.Errorf("redirect followed: target got %d requests", got)
	}
	if got := deliveries(t, reg, host, outcomeRejected); got != 1 {
		t.Errorf("rejected = %v, want 1 (a 302 is not a delivery)", got)
	}
}
