package verify

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/config"
)

func server(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.URL
}

func httpCheck(name string, h config.HTTPCheck) config.Check {
	if h.Method == "" {
		h.Method = "GET"
	}
	if h.Expect.Status == 0 {
		h.Expect.Status = 200
	}
	return config.Check{Name: name, Slot: config.SlotIdle, Timeout: config.Duration(10 * time.Second), HTTP: &h}
}

func runOne(t *testing.T, base string, c config.Check) Result {
	t.Helper()
	r := NewRunner([]config.Check{c}, nil, nil)
	r.retryDelay = 0
	rep := r.Run(context.Background(), Options{BaseURL: base}, "")
	if len(rep.Results) != 1 {
		t.Fatalf("got %d results, want 1", len(rep.Results))
	}
	if rep.Passed != rep.Results[0].Passed {
		t.Errorf("report passed %v, result passed %v", rep.Passed, rep.Results[0].Passed)
	}
	return rep.Results[0]
}

func healthy(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Version", "v2")
	_, _ = io.WriteString(w, `{"status":"healthy","checks":{"db":"ok","count":3,"ratio":0.5},"items":[{"id":"a"},{"id":"b"}],"ok":true,"none":null}`)
}

// TestHTTPPass: every assertion kind passes against a matching response.
func TestHTTPPass(t *testing.T) {
	base := server(t, healthy)
	res := runOne(t, base, httpCheck("health", config.HTTPCheck{
		Path: "/health",
		Expect: config.HTTPExpect{
			Headers: map[string]string{"Content-Type": "application/json", "X-Version": "v2"},
			JSON: map[string]any{
				"status": "healthy", "checks.count": 3, "checks.ratio": 0.5, "items.1.id": "b", "ok": true, "none": nil,
				"checks": map[string]any{"db": "ok"},
			},
			BodyContains: `"db":"ok"`,
			BodyRegex:    `"id":"[ab]"`,
		},
		MaxLatency: config.Duration(time.Minute),
	}))
	if !res.Passed || res.Reason != "" || res.Name != "health" || res.Kind != "http" {
		t.Errorf("got %+v, want a pass", res)
	}
}

// TestHTTPReasons: each failed assertion gives its readable reason.
func TestHTTPReasons(t *testing.T) {
	base := server(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/500":
			w.WriteHeader(http.StatusInternalServerError)
		case "/degraded":
			_, _ = io.WriteString(w, `{"status":"degraded","n":"3"}`)
		case "/html":
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, "<h1>hello</h1>")
		default:
			healthy(w, r)
		}
	})
	cases := []struct {
		name string
		h    config.HTTPCheck
		want string
	}{
		{"status", config.HTTPCheck{Path: "/500"}, "status 500, want 200"},
		{"json value", config.HTTPCheck{Path: "/degraded", Expect: config.HTTPExpect{JSON: map[string]any{"status": "healthy"}}},
			`json status = "degraded", want "healthy"`},
		{"json type", config.HTTPCheck{Path: "/degraded", Expect: config.HTTPExpect{JSON: map[string]any{"n": 3}}},
			`json n = "3", want 3`},
		{"json missing", config.HTTPCheck{Path: "/ok", Expect: config.HTTPExpect{JSON: map[string]any{"items.5.id": "x", "data": map[string]any{"v": 1}}}},
			`json data.v missing, want 1; json items.5.id missing, want "x"`},
		{"not json", config.HTTPCheck{Path: "/html", Expect: config.HTTPExpect{JSON: map[string]any{"status": "healthy"}}},
			"body is not JSON (invalid character '<' looking for beginning of value)"},
		{"header", config.HTTPCheck{Path: "/html", Expect: config.HTTPExpect{Headers: map[string]string{"Content-Type": "application/json", "X-Version": "v2"}}},
			`header Content-Type = "text/html", want "application/json"; header X-Version missing, want "v2"`},
		{"contains", config.HTTPCheck{Path: "/html", Expect: config.HTTPExpect{BodyContains: "goodbye"}}, `body does not contain "goodbye"`},
		{"regex", config.HTTPCheck{Path: "/html", Expect: config.HTTPExpect{BodyRegex: "^<h2>"}}, "body does not match /^<h2>/"},
		{"several", config.HTTPCheck{Path: "/500", Expect: config.HTTPExpect{BodyContains: "x"}}, `status 500, want 200; body does not contain "x"`},
		{"bad regex", config.HTTPCheck{Path: "/html", Expect: config.HTTPExpect{BodyRegex: "("}}, "invalid body_regex: error parsing regexp: missing closing ): `(`"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := runOne(t, base, httpCheck(tc.name, tc.h))
			if res.Passed || res.Reason != tc.want {
				t.Errorf("got passed=%v reason %q, want %q", res.Passed, res.Reason, tc.want)
			}
		})
	}
}

// TestHTTPLatency uses a clock that advances 812ms per reading.
func TestHTTPLatency(t *testing.T) {
	base := server(t, healthy)
	for _, tc := range []struct {
		max  time.Duration
		want string
	}{{500 * time.Millisecond, "latency 812ms over max 500ms"}, {time.Second, ""}} {
		r := NewRunner([]config.Check{httpCheck("slow", config.HTTPCheck{Path: "/", MaxLatency: config.Duration(tc.max)})}, nil, nil)
		var mu sync.Mutex
		clock := time.Unix(0, 0)
		r.now = func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			clock = clock.Add(812 * time.Millisecond)
			return clock
		}
		res := r.Run(context.Background(), Options{BaseURL: base}, "").Results[0]
		if res.Reason != tc.want || res.Passed != (tc.want == "") {
			t.Errorf("max %v: got %+v, want reason %q", tc.max, res, tc.want)
		}
		if res.Duration <= 0 {
			t.Errorf("duration %v not measured", res.Duration)
		}
	}
}

// TestHTTPRequest: method, path under the base URL, headers, Host and body
// are sent as configured.
func TestHTTPRequest(t *testing.T) {
	got := make(chan *http.Request, 1)
	bodies := make(chan string, 1)
	base := server(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- string(b)
		w.WriteHeader(http.StatusCreated)
	})
	res := runOne(t, base+"/prefix/", httpCheck("post", config.HTTPCheck{
		Method: "POST", Path: "/items?x=1", Body: `{"a":1}`,
		Headers: map[string]string{"Content-Type": "application/json", "Host": "shop.example", "X-Canary-Version": "s3cret"},
		Expect:  config.HTTPExpect{Status: 201},
	}))
	if !res.Passed {
		t.Fatalf("got %+v", res)
	}
	r := <-got
	if r.Method != "POST" || r.URL.Path != "/prefix/items" || r.URL.RawQuery != "x=1" || r.Host != "shop.example" ||
		r.Header.Get("Content-Type") != "application/json" || r.Header.Get("X-Canary-Version") != "s3cret" {
		t.Errorf("request: %s %s host %q headers %v", r.Method, r.URL, r.Host, r.Header)
	}
	if b := <-bodies; b != `{"a":1}` {
		t.Errorf("body %q", b)
	}
}

// TestHTTPRetries: a check that fails twice then passes passes with two
// retries and fails with one, saying how many attempts it made.
func TestHTTPRetries(t *testing.T) {
	for _, tc := range []struct {
		retries  int
		want     string
		requests int64
	}{{2, "", 3}, {1, "status 503, want 200 (after 2 attempts)", 2}} {
		var n atomic.Int64
		base := server(t, func(w http.ResponseWriter, _ *http.Request) {
			if n.Add(1) <= 2 {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		})
		c := httpCheck("flaky", config.HTTPCheck{Path: "/"})
		c.Retries = tc.retries
		res := runOne(t, base, c)
		if res.Reason != tc.want || res.Passed != (tc.want == "") {
			t.Errorf("retries %d: got %+v, want reason %q", tc.retries, res, tc.want)
		}
		if got := n.Load(); got != tc.requests {
			t.Errorf("retries %d: %d requests, want %d", tc.retries, got, tc.requests)
		}
	}
}

// TestHTTPTimeout: a backend that never answers fails the check at its
// timeout, with the reason.
func TestHTTPTimeout(t *testing.T) {
	release := make(chan struct{})
	base := server(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // runs before the server closes
	c := httpCheck("hang", config.HTTPCheck{Path: "/"})
	c.Timeout = config.Duration(50 * time.Millisecond)
	res := runOne(t, base, c)
	if res.Passed || res.Reason != "no response within 50ms" {
		t.Errorf("got %+v", res)
	}
}

func TestHTTPUnreachable(t *testing.T) {
	s := httptest.NewServer(http.NotFoundHandler())
	base := s.URL
	s.Close()
	res := runOne(t, base, httpCheck("down", config.HTTPCheck{Path: "/health"}))
	if res.Passed || !strings.HasPrefix(res.Reason, "request failed: ") || !strings.Contains(res.Reason, "/health") {
		t.Errorf("got %+v", res)
	}
}

// TestHTTPBodyLimit: a body over 1 MiB fails checks on its content and
// does not matter to a status-only check.
func TestHTTPBodyLimit(t *testing.T) {
	base := server(t, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("x", maxBody+10)+"needle")
	})
	if res := runOne(t, base, httpCheck("status", config.HTTPCheck{Path: "/"})); !res.Passed {
		t.Errorf("status only: %+v", res)
	}
	res := runOne(t, base, httpCheck("content", config.HTTPCheck{Path: "/", Expect: config.HTTPExpect{BodyContains: "needle"}}))
	if res.Passed || res.Reason != "response body over the 1 MiB limit; its content was not checked" {
		t.Errorf("content: %+v", res)
	}
}

// TestHTTPRedirectNotFollowed: with the default client a check sees the
// redirect itself.
func TestHTTPRedirectNotFollowed(t *testing.T) {
	base := server(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	})
	res := runOne(t, base, httpCheck("redirect", config.HTTPCheck{Path: "/", Expect: config.HTTPExpect{Status: 302, Headers: map[string]string{"Location": "/elsewhere"}}}))
	if !res.Passed {
		t.Errorf("got %+v", res)
	}
}
