package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// serveFrom sends one request to h as if from addr.
func serveFrom(h http.Handler, addr, method, path, authz, form string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(form))
	req.RemoteAddr = addr
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	if form != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestWrongTokensAreRateLimited: an address that sent loginBurst wrong
// bearer tokens gets 429 with Retry-After for its next request with a
// credential, even the right one, without the token being compared;
// another address is not affected; the refusals are counted.
func TestWrongTokensAreRateLimited(t *testing.T) {
	reg := prometheus.NewRegistry()
	h, err := New(Options{Backend: &fakeBackend{}, Token: token, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	const attacker, other = "192.0.2.7:4000", "192.0.2.8:4000"
	for i := range loginBurst {
		if rec := serveFrom(h, attacker, "GET", "/api/v1/status", "Bearer guess", ""); rec.Code != http.StatusUnauthorized {
			t.Fatalf("wrong token %d: %d, want 401", i+1, rec.Code)
		}
	}
	rec := serveFrom(h, attacker, "GET", "/api/v1/status", "Bearer "+token, "")
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("right token after %d wrong ones: %d, Retry-After %q; want 429 with Retry-After", loginBurst, rec.Code, rec.Header().Get("Retry-After"))
	}
	if !strings.Contains(rec.Body.String(), "too many wrong admin tokens") {
		t.Errorf("429 body does not say why: %s", rec.Body)
	}
	// The dashboard's login form shares the limit.
	if rec := serveFrom(h, attacker, "POST", "/login", "", url.Values{"token": {token}}.Encode()); rec.Code != http.StatusTooManyRequests {
		t.Errorf("login from the limited address: %d, want 429", rec.Code)
	}
	if rec := serveFrom(h, other, "GET", "/api/v1/status", "Bearer "+token, ""); rec.Code != http.StatusOK {
		t.Errorf("another address with the right token: %d, want 200", rec.Code)
	}
	// A request without a credential is not limited (it learns nothing).
	if rec := serveFrom(h, attacker, "GET", "/api/v1/status", "", ""); rec.Code != http.StatusUnauthorized {
		t.Errorf("no credential from the limited address: %d, want 401", rec.Code)
	}
	want := `
# HELP bluegreen_admin_auth_failures_total Refused admin credentials (dashboard login or API bearer token): reason wrong_token, or rate_limited (the client's address failed too often; answered 429 without looking at the credential).
# TYPE bluegreen_admin_auth_failures_total counter
bluegreen_admin_auth_failures_total{reason="rate_limited"} 2
bluegreen_admin_auth_failures_total{reason="wrong_token"} 5
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "bluegreen_admin_auth_failures_total"); err != nil {
		t.Error(err)
	}
}

// TestWrongLoginsAreRateLimited: the login form refuses after loginBurst
// wrong tokens with a page that says when to try again.
func TestWrongLoginsAreRateLimited(t *testing.T) {
	h, err := New(Options{Backend: &fakeBackend{}, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	const addr = "198.51.100.1:5000"
	for range loginBurst {
		if rec := serveFrom(h, addr, "POST", "/login", "", "token=wrong-token-of-some-length"); rec.Code != http.StatusUnauthorized {
			t.Fatalf("wrong login: %d, want 401", rec.Code)
		}
	}
	rec := serveFrom(h, addr, "POST", "/login", "", url.Values{"token": {token}}.Encode())
	if rec.Code != http.StatusTooManyRequests || !strings.Contains(rec.Body.String(), "Too many wrong tokens") {
		t.Fatalf("login after %d wrong ones: %d %q, want 429 and the reason", loginBurst, rec.Code, rec.Body)
	}
	if rec.Header().Get("Set-Cookie") != "" {
		t.Error("a refused login set a cookie")
	}
}

// TestFailLimiterRefills: one attempt comes back every loginRefill, up to
// loginBurst; the table stays bounded.
func TestFailLimiterRefills(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newFailLimiter(func() time.Time { return now }, nil)
	for range loginBurst {
		l.failed("a")
	}
	if ok, retry := l.allow("a"); ok || retry != loginRefill {
		t.Fatalf("after %d failures: allow = %v, retry %v; want refused for %v", loginBurst, ok, retry, loginRefill)
	}
	now = now.Add(loginRefill / 2)
	if ok, retry := l.allow("a"); ok || retry != loginRefill/2 {
		t.Fatalf("half a refill later: allow = %v, retry %v; want refused for %v", ok, retry, loginRefill/2)
	}
	now = now.Add(loginRefill / 2)
	if ok, _ := l.allow("a"); !ok {
		t.Fatal("one refill later: refused, want one attempt")
	}
	l.failed("a")
	if ok, _ := l.allow("a"); ok {
		t.Fatal("the refilled attempt was used, yet another is allowed")
	}
	now = now.Add(100 * loginRefill)
	for range loginBurst {
		if ok, _ := l.allow("a"); !ok {
			t.Fatal("long after: refused, want the full burst back")
		}
		l.failed("a")
	}
	for i := range maxLimited + 10 {
		l.failed(string(rune(i)) + "addr")
	}
	if len(l.m) > maxLimited {
		t.Errorf("%d addresses kept, limit %d", len(l.m), maxLimited)
	}
}
