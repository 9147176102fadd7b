package web

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// browser is an http.Client with a cookie jar that does not follow
// redirects, so the tests see the login's 303.
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type reqOpt func(*http.Request)

func header(k, v string) reqOpt { return func(r *http.Request) { r.Header.Set(k, v) } }

func send(t *testing.T, c *http.Client, method, u, body string, opts ...reqOpt) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(u, "/login") || strings.HasSuffix(u, "/logout") {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, o := range opts {
		o(req)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res, string(data)
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([0-9a-f]{64})">`)

// login posts the token and returns the page's CSRF token.
func login(t *testing.T, c *http.Client, srv *httptest.Server) string {
	t.Helper()
	res, _ := send(t, c, "POST", srv.URL+"/login", "token="+url.QueryEscape(token), header("Origin", srv.URL))
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("login: %d %s, want 303 to /", res.StatusCode, res.Header.Get("Location"))
	}
	res, body := send(t, c, "GET", srv.URL+"/", "")
	m := csrfMeta.FindStringSubmatch(body)
	if res.StatusCode != 200 || m == nil {
		t.Fatalf("dashboard after login: %d, no CSRF token in\n%s", res.StatusCode, body)
	}
	if strings.Contains(body, token) {
		t.Fatal("the dashboard page contains the admin token")
	}
	return m[1]
}

func TestLoginSetsASessionCookie(t *testing.T) {
	srv := newTestServer(t, &fakeBackend{}, false)
	c := browser(t)

	res, body := send(t, c, "GET", srv.URL+"/", "")
	if res.StatusCode != 200 || !strings.Contains(body, `name="token"`) || csrfMeta.MatchString(body) {
		t.Fatalf("GET / without a session: %d, want the login form without a CSRF token\n%s", res.StatusCode, body)
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q: want default-src 'none' and no unsafe-inline", csp)
	}

	res, body = send(t, c, "POST", srv.URL+"/login", "token=wrong-token-of-some-length")
	if res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Wrong admin token") || len(res.Cookies()) > 0 {
		t.Fatalf("wrong token: %d, cookies %v, want 401 and no cookie", res.StatusCode, res.Cookies())
	}
	res, _ = send(t, c, "POST", srv.URL+"/login", "token="+url.QueryEscape(token), header("Origin", "http://evil.example"))
	if res.StatusCode != http.StatusForbidden || len(res.Cookies()) > 0 {
		t.Fatalf("cross-origin login: %d, want 403 and no cookie", res.StatusCode)
	}

	res, _ = send(t, c, "POST", srv.URL+"/login", "token="+url.QueryEscape(token))
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d, want 303", res.StatusCode)
	}
	var ck *http.Cookie
	for _, k := range res.Cookies() {
		if k.Name == sessionCookie {
			ck = k
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure || ck.Value == token || len(ck.Value) != 64 {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, not Secure over plain HTTP, a random value", ck)
	}
	if strings.Contains(res.Header.Get("Location"), token) {
		t.Fatal("the redirect carries the token")
	}

	// Behind a TLS-terminating proxy the cookie is Secure.
	res, _ = send(t, browser(t), "POST", srv.URL+"/login", "token="+url.QueryEscape(token), header("X-Forwarded-Proto", "https"))
	if cs := res.Cookies(); len(cs) != 1 || !cs[0].Secure {
		t.Fatalf("login over TLS: cookies %+v, want one Secure cookie", cs)
	}
}

func TestSessionNeedsCSRFOnPost(t *testing.T) {
	b := &fakeBackend{}
	srv := newTestServer(t, b, false)
	c := browser(t)
	csrf := login(t, c, srv)

	if res, body := send(t, c, "GET", srv.URL+"/api/v1/status", ""); res.StatusCode != 200 {
		t.Fatalf("GET status with the session: %d %s", res.StatusCode, body)
	}
	pause := srv.URL + "/api/v1/deployments/current/pause"
	for _, tc := range []struct {
		name string
		opts []reqOpt
	}{
		{"no CSRF token", nil},
		{"wrong CSRF token", []reqOpt{header(csrfHeader, strings.Repeat("0", 64))}},
		{"right token, other origin", []reqOpt{header(csrfHeader, csrf), header("Origin", "http://evil.example")}},
	} {
		res, body := send(t, c, "POST", pause, "", tc.opts...)
		if res.StatusCode != http.StatusForbidden || !strings.Contains(body, `"error"`) {
			t.Errorf("%s: %d %s, want 403", tc.name, res.StatusCode, body)
		}
	}
	if len(b.actions) != 0 {
		t.Fatalf("refused requests reached the backend: %v", b.actions)
	}
	if res, body := send(t, c, "POST", pause, "", header(csrfHeader, csrf), header("Origin", srv.URL)); res.StatusCode != 200 {
		t.Fatalf("pause with the CSRF token: %d %s", res.StatusCode, body)
	}
	if len(b.actions) != 1 || b.actions[0] != "pause" {
		t.Fatalf("backend actions %v, want [pause]", b.actions)
	}

	// The bearer token works as before, and a wrong one is not rescued by
	// the cookie.
	if code, _ := call(t, srv, "POST", "/api/v1/deployments/current/resume", token, ""); code != 200 {
		t.Fatalf("bearer token: %d", code)
	}
	if res, _ := send(t, c, "GET", srv.URL+"/api/v1/status", "", header("Authorization", "Bearer nope")); res.StatusCode != 401 {
		t.Fatalf("wrong bearer token with a session cookie: %d, want 401", res.StatusCode)
	}
}

func TestLogout(t *testing.T) {
	srv := newTestServer(t, &fakeBackend{}, false)
	c := browser(t)
	csrf := login(t, c, srv)
	if res, _ := send(t, c, "POST", srv.URL+"/logout", ""); res.StatusCode != http.StatusForbidden {
		t.Fatalf("logout without the CSRF token: %d, want 403", res.StatusCode)
	}
	res, _ := send(t, c, "POST", srv.URL+"/logout", "csrf="+csrf)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d, want 303", res.StatusCode)
	}
	if res, _ := send(t, c, "GET", srv.URL+"/api/v1/status", ""); res.StatusCode != 401 {
		t.Fatalf("status after logout: %d, want 401", res.StatusCode)
	}
	if _, body := send(t, c, "GET", srv.URL+"/", ""); !strings.Contains(body, `name="token"`) {
		t.Fatal("after logout / does not show the login form")
	}
}

func TestSessionsExpireAndAreBounded(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newSessions(func() time.Time { return now })
	id, sess := s.create()
	if got, ok := s.get(id); !ok || got.csrf != sess.csrf {
		t.Fatal("new session not found")
	}
	if _, ok := s.get(strings.ToUpper(id)); ok {
		t.Fatal("a different id found the session")
	}
	now = now.Add(sessionTTL)
	if _, ok := s.get(id); ok {
		t.Fatal("session alive after its TTL")
	}
	first, _ := s.create()
	for range maxSessions {
		now = now.Add(time.Second)
		s.create()
	}
	if _, ok := s.get(first); ok {
		t.Fatal("the oldest session survived past maxSessions")
	}
	if n := len(s.m); n != maxSessions {
		t.Fatalf("%d sessions kept, want %d", n, maxSessions)
	}
}

func TestAssets(t *testing.T) {
	srv := newTestServer(t, &fakeBackend{}, false)
	total := 0
	for name, ctype := range map[string]string{"dashboard.js": "text/javascript", "dashboard.css": "text/css"} {
		res, body := send(t, srv.Client(), "GET", srv.URL+"/assets/"+name, "")
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), ctype) || res.Header.Get("ETag") == "" {
			t.Fatalf("%s: %d %s", name, res.StatusCode, res.Header.Get("Content-Type"))
		}
		total += len(body)
		res, _ = send(t, srv.Client(), "GET", srv.URL+"/assets/"+name, "", header("If-None-Match", res.Header.Get("ETag")))
		if res.StatusCode != http.StatusNotModified {
			t.Fatalf("%s revalidation: %d, want 304", name, res.StatusCode)
		}
		// Nothing from another host: no URL in the assets but the SVG namespace.
		for _, m := range regexp.MustCompile(`https?://[^\s'"]+`).FindAllString(body, -1) {
			if m != "http://www.w3.org/2000/svg" {
				t.Errorf("%s refers to %s", name, m)
			}
		}
	}
	if res, _ := send(t, srv.Client(), "GET", srv.URL+"/assets/nope.js", ""); res.StatusCode != 404 {
		t.Fatalf("unknown asset: %d", res.StatusCode)
	}
	c := browser(t)
	login(t, c, srv)
	_, page := send(t, c, "GET", srv.URL+"/", "")
	total += len(page)
	t.Logf("page + script + stylesheet: %d bytes", total)
	if total > 150<<10 {
		t.Errorf("page, script and stylesheet weigh %d bytes; the whole first load must stay under 200 KB", total)
	}
}
