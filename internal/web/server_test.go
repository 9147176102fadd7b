package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/api"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// fakeBackend records what the API asked for; its answers are set per test.
type fakeBackend struct {
	mu      sync.Mutex
	route   api.RouteRequest
	deploys []string
	actions []string
	err     error
	events  chan store.Event
}

func (f *fakeBackend) Status(context.Context) (api.Status, error) {
	return api.Status{App: "shop"}, f.err
}
func (f *fakeBackend) SetRoute(_ context.Context, req api.RouteRequest) (store.Route, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.route = req
	return store.Route{Live: req.Live, Weights: req.Weights}, f.err
}
func (f *fakeBackend) Deploy(_ context.Context, v, s string) (store.Deployment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return store.Deployment{}, f.err
	}
	f.deploys = append(f.deploys, v+"/"+s)
	return store.Deployment{ID: 7, Version: v, Strategy: s}, nil
}
func (f *fakeBackend) Act(_ context.Context, a string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.actions = append(f.actions, a)
	return f.err
}
func (f *fakeBackend) Rollback(context.Context) (store.Deployment, error) {
	return store.Deployment{ID: 8, Kind: "rollback"}, f.err
}
func (f *fakeBackend) Deployments(context.Context, int) ([]store.Deployment, error) {
	return []store.Deployment{{ID: 1}}, f.err
}
func (f *fakeBackend) Deployment(_ context.Context, id int64) (store.Deployment, []store.Event, error) {
	if id != 1 {
		return store.Deployment{}, nil, fmt.Errorf("deployment %d: %w", id, store.ErrNotFound)
	}
	return store.Deployment{ID: 1}, []store.Event{{ID: 1, Phase: "pending"}}, nil
}
func (f *fakeBackend) Subscribe(int) (<-chan store.Event, func()) { return f.events, func() {} }

const token = "s3cret-token"

func newTestServer(t *testing.T, b *fakeBackend, metricsAuth bool) *httptest.Server {
	t.Helper()
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "bluegreen_up 1\n") })
	h, err := New(Options{Backend: b, Token: token, Metrics: metrics, MetricsAuth: metricsAuth})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func call(t *testing.T, srv *httptest.Server, method, path, tok, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(data)
}

func TestNewRefusesEmptyToken(t *testing.T) {
	if _, err := New(Options{Backend: &fakeBackend{}}); err == nil {
		t.Fatal("New with an empty token: want error")
	}
}

func TestAuth(t *testing.T) {
	srv := newTestServer(t, &fakeBackend{}, false)
	for _, tc := range []struct {
		name, method, path, tok string
		want                    int
	}{
		{"no token", "GET", "/api/v1/status", "", 401},
		{"wrong token", "GET", "/api/v1/status", "nope", 401},
		{"token prefix only", "GET", "/api/v1/status", token[:4], 401},
		{"right token", "GET", "/api/v1/status", token, 200},
		{"unknown endpoint needs token too", "GET", "/api/v1/nope", "", 401},
		{"unknown endpoint", "GET", "/api/v1/nope", token, 404},
		{"metrics open by default", "GET", "/metrics", "", 200},
		{"dashboard page", "GET", "/", "", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := call(t, srv, tc.method, tc.path, tc.tok, "")
			if code != tc.want {
				t.Fatalf("%s %s: status %d, want %d (body %s)", tc.method, tc.path, code, tc.want, body)
			}
			if code == 401 && strings.Contains(body, token) {
				t.Fatalf("401 body leaks the token: %s", body)
			}
		})
	}
}

func TestMetricsAuth(t *testing.T) {
	srv := newTestServer(t, &fakeBackend{}, true)
	if code, _ := call(t, srv, "GET", "/metrics", "", ""); code != 401 {
		t.Fatalf("metrics without token when metrics_auth is on: %d, want 401", code)
	}
	if code, _ := call(t, srv, "GET", "/metrics", token, ""); code != 200 {
		t.Fatalf("metrics with token: %d, want 200", code)
	}
}

func TestRouteAndDeploy(t *testing.T) {
	b := &fakeBackend{}
	srv := newTestServer(t, b, false)
	if code, body := call(t, srv, "POST", "/api/v1/route", token, `{"weights":{"green":30}}`); code != 200 {
		t.Fatalf("route: %d %s", code, body)
	}
	if b.route.Weights["green"] != 30 {
		t.Fatalf("backend got %+v, want green 30", b.route)
	}
	for _, bad := range []string{`{}`, `{"live":"green","extra":1}`, `not json`} {
		if code, body := call(t, srv, "POST", "/api/v1/route", token, bad); code != 400 || !strings.Contains(body, `"error"`) {
			t.Fatalf("route %s: %d %s, want 400 with an error", bad, code, body)
		}
	}
	code, body := call(t, srv, "POST", "/api/v1/deployments", token, `{"version":"v2","strategy":"all-at-once"}`)
	if code != 201 || !strings.Contains(body, `"id": 7`) {
		t.Fatalf("deploy: %d %s", code, body)
	}
	if code, _ := call(t, srv, "POST", "/api/v1/deployments", token, `{}`); code != 400 {
		t.Fatalf("deploy without version: %d, want 400", code)
	}
	big := `{"version":"` + strings.Repeat("x", maxBody) + `"}`
	if code, _ := call(t, srv, "POST", "/api/v1/deployments", token, big); code != 413 {
		t.Fatalf("oversized body: %d, want 413", code)
	}
	if code, _ := call(t, srv, "POST", "/api/v1/deployments/current/explode", token, ""); code != 400 {
		t.Fatalf("unknown action: %d, want 400", code)
	}
	if code, _ := call(t, srv, "POST", "/api/v1/deployments/current/pause", token, ""); code != 200 || b.actions[0] != "pause" {
		t.Fatalf("pause: %d %v", code, b.actions)
	}
	if code, _ := call(t, srv, "GET", "/api/v1/deployments/2", token, ""); code != 404 {
		t.Fatalf("missing deployment: %d, want 404", code)
	}
	if code, body := call(t, srv, "GET", "/api/v1/deployments/1", token, ""); code != 200 || !strings.Contains(body, `"events"`) {
		t.Fatalf("deployment 1: %d %s", code, body)
	}
}

func TestErrorMapping(t *testing.T) {
	b := &fakeBackend{err: fmt.Errorf("deploy v3: %w (deployment 4 is shifting)", store.ErrActiveDeployment)}
	srv := newTestServer(t, b, false)
	code, body := call(t, srv, "POST", "/api/v1/deployments", token, `{"version":"v3"}`)
	if code != 409 || !strings.Contains(body, "deployment 4") {
		t.Fatalf("active deployment: %d %s, want 409 naming it", code, body)
	}
	b.err = fmt.Errorf("route: %w: a deployment is active", ErrConflict)
	if code, _ := call(t, srv, "POST", "/api/v1/route", token, `{"live":"green"}`); code != 409 {
		t.Fatalf("route during deployment: %d, want 409", code)
	}
	b.err = fmt.Errorf("pause: %w", &store.FencedError{App: "shop", Token: 3, InForce: 4, Holder: "b"})
	if code, body := call(t, srv, "POST", "/api/v1/deployments/current/pause", token, ""); code != 503 || !strings.Contains(body, `fencing token 3 \u003c 4`) {
		t.Fatalf("command refused by the fence: %d %s, want 503 with the tokens", code, body)
	}
}

func TestEventsStream(t *testing.T) {
	b := &fakeBackend{events: make(chan store.Event, 1)}
	srv := newTestServer(t, b, false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	// The event is sent after the stream opened: it must arrive while the
	// response is still open, so it was flushed, not buffered.
	b.events <- store.Event{ID: 42, DeploymentID: 3, Phase: "shifting", Reason: "step 1"}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			var ev store.Event
			if err := json.Unmarshal([]byte(data), &ev); err != nil {
				t.Fatal(err)
			}
			if ev.ID != 42 || ev.Phase != "shifting" {
				t.Fatalf("event %+v", ev)
			}
			return
		}
	}
	t.Fatalf("stream ended without the event: %v", sc.Err())
}

// A body is one JSON object: trailing data, even another valid object, is
// refused before the backend sees anything.
func TestDecodeRefusesTrailingData(t *testing.T) {
	b := &fakeBackend{}
	srv := newTestServer(t, b, false)
	for _, body := range []string{`{"version":"v2"}{"version":"v3"}`, `{"version":"v2"} x`, `{"version":"v2"}]`, `{"version":"v2"} 1`} {
		code, resp := call(t, srv, "POST", "/api/v1/deployments", token, body)
		if code != 400 || !strings.Contains(resp, "after the JSON object") {
			t.Errorf("deploy %s: %d %s, want 400 naming the data after the object", body, code, resp)
		}
	}
	if len(b.deploys) != 0 {
		t.Fatalf("backend deployed %v from refused bodies", b.deploys)
	}
	if code, resp := call(t, srv, "POST", "/api/v1/deployments", token, "{\"version\":\"v2\"}\n \t\n"); code != 201 {
		t.Fatalf("deploy with trailing white space: %d %s, want 201", code, resp)
	}
}

// The auth scheme is case-insensitive (RFC 9110 §11.1); the token is not.
func TestBearerSchemeAnyCase(t *testing.T) {
	srv := newTestServer(t, &fakeBackend{}, false)
	for _, tc := range []struct {
		header string
		want   int
	}{
		{"Bearer " + token, 200},
		{"bearer " + token, 200},
		{"BEARER " + token, 200},
		{"bEaReR  " + token, 200},
		{"Bearer " + strings.ToUpper(token), 401},
		{"Basic " + token, 401},
		{"Bearer", 401},
		{"Bearer ", 401},
		{token, 401},
	} {
		req, err := http.NewRequest("GET", srv.URL+"/api/v1/status", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", tc.header)
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.want {
			t.Errorf("Authorization %q: %d, want %d", tc.header, res.StatusCode, tc.want)
		}
	}
}
