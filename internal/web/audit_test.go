package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bluegreen-dev/bluegreen/internal/store"
	"github.com/bluegreen-dev/bluegreen/internal/store/sqlite"
)

// openState opens the SQLite state file at path (closed with the test).
func openState(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// newStoredServer is an admin handler keeping its audit log and sessions
// in st; every entry it hands to OnAudit is appended to seen.
func newStoredServer(t *testing.T, st store.Store, seen *[]store.AuditEntry, mu *sync.Mutex) *httptest.Server {
	t.Helper()
	h, err := New(Options{Backend: &fakeBackend{}, Token: token, Store: st, App: "shop", OnAudit: func(e store.AuditEntry) {
		mu.Lock()
		defer mu.Unlock()
		*seen = append(*seen, e)
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func TestAuditTokenAndSession(t *testing.T) {
	st := openState(t, filepath.Join(t.TempDir(), "state.db"))
	var (
		mu   sync.Mutex
		seen []store.AuditEntry
	)
	srv := newStoredServer(t, st, &seen, &mu)

	if code, body := call(t, srv, "POST", "/api/v1/deployments", token, `{"version":"v2","strategy":"canary"}`); code != http.StatusAccepted && code != http.StatusOK && code != http.StatusCreated {
		t.Fatalf("deploy with the token: %d %s", code, body)
	}
	c := browser(t)
	res, _ := send(t, c, "POST", srv.URL+"/login", "token=wrong", header("Origin", srv.URL))
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong login: %d, want 401", res.StatusCode)
	}
	csrf := login(t, c, srv)
	res, body := send(t, c, "POST", srv.URL+"/api/v1/deployments/current/pause", "", header("Origin", srv.URL), header(csrfHeader, csrf))
	if res.StatusCode >= 300 {
		t.Fatalf("pause through the session: %d %s", res.StatusCode, body)
	}
	u, _ := url.Parse(srv.URL)
	var sid string
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == sessionCookie {
			sid = ck.Value
		}
	}
	if sid == "" {
		t.Fatal("no session cookie")
	}

	got, err := st.ListAudit(t.Context(), "shop", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ actor, action, result, arg string }{
		{sessionActor(sid), "pause", "ok", ""},
		{sessionActor(sid), "login", "ok", ""},
		{"anonymous", "login", "wrong admin token", ""},
		{"token", "deploy", "ok", `"v2"`},
	}
	if len(got) != len(want) {
		t.Fatalf("audit = %+v, want %d entries", got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Actor != w.actor || g.Action != w.action || g.Result != w.result || g.Remote != "127.0.0.1" {
			t.Errorf("audit %d = %+v, want %s %s %s from 127.0.0.1", i, g, w.actor, w.action, w.result)
		}
		if !strings.Contains(string(g.Args), w.arg) {
			t.Errorf("audit %d args = %s, want %s in them", i, g.Args, w.arg)
		}
		all := g.Actor + g.Action + string(g.Args) + g.Result + g.Remote
		if strings.Contains(all, token) || strings.Contains(all, sid) || strings.Contains(all, csrf) {
			t.Errorf("audit %d holds a secret: %+v", i, g)
		}
	}
	if !strings.HasPrefix(want[0].actor, "session:") || len(want[0].actor) != len("session:")+12 {
		t.Errorf("session actor = %q, want session:<12 hex>", want[0].actor)
	}
	mu.Lock()
	if len(seen) != len(want) {
		t.Errorf("OnAudit got %d entries, want %d", len(seen), len(want))
	}
	mu.Unlock()

	code, body := call(t, srv, "GET", "/api/v1/audit?limit=2", token, "")
	if code != http.StatusOK || !strings.Contains(body, `"pause"`) || strings.Contains(body, `"deploy"`) {
		t.Errorf("GET /api/v1/audit?limit=2: %d %s", code, body)
	}
	if code, body := call(t, srv, "GET", "/api/v1/audit?limit=0", token, ""); code != http.StatusBadRequest {
		t.Errorf("GET /api/v1/audit?limit=0: %d %s, want 400", code, body)
	}
}

func TestAuditArgsBounded(t *testing.T) {
	big := `{"version":"` + strings.Repeat("x", 3*maxAuditArgs) + `"}`
	got := auditArgs([]byte(big), nil)
	if len(got) > maxAuditArgs+64 || !strings.Contains(string(got), "truncated") {
		t.Errorf("args of a %d-byte body: %d bytes %.80s", len(big), len(got), got)
	}
}

// A session made before a restart is still valid after it: the same
// cookie is accepted by a new handler on the same state file, with the
// same CSRF token; logging out removes it from the store.
func TestSessionSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	var (
		mu   sync.Mutex
		seen []store.AuditEntry
	)
	st1 := openState(t, path)
	srv1 := newStoredServer(t, st1, &seen, &mu)
	c := browser(t)
	csrf := login(t, c, srv1)
	u1, _ := url.Parse(srv1.URL)
	cookies := c.Jar.Cookies(u1)
	srv1.Close()
	if err := st1.Close(); err != nil {
		t.Fatal(err)
	}

	st2 := openState(t, path)
	srv2 := newStoredServer(t, st2, &seen, &mu)
	u2, _ := url.Parse(srv2.URL)
	c.Jar.SetCookies(u2, cookies)
	res, body := send(t, c, "GET", srv2.URL+"/", "")
	m := csrfMeta.FindStringSubmatch(body)
	if res.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("dashboard after restart: %d, no session (login page?)", res.StatusCode)
	}
	if m[1] != csrf {
		t.Errorf("CSRF after restart = %s, want the same %s", m[1], csrf)
	}
	res, body = send(t, c, "POST", srv2.URL+"/api/v1/deployments/current/resume", "", header("Origin", srv2.URL), header(csrfHeader, csrf))
	if res.StatusCode >= 300 {
		t.Fatalf("resume through the restored session: %d %s", res.StatusCode, body)
	}
	stored, err := st2.LoadAdminSessions(t.Context(), "shop", newSessions(nil).now())
	if err != nil || len(stored) != 1 {
		t.Fatalf("stored sessions = %+v, %v; want 1", stored, err)
	}
	for _, ck := range cookies {
		if strings.Contains(stored[0].Key, ck.Value) || stored[0].Key == ck.Value {
			t.Error("the session id itself is stored")
		}
	}
	res, _ = send(t, c, "POST", srv2.URL+"/logout", "csrf="+csrf, header("Origin", srv2.URL))
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", res.StatusCode)
	}
	if stored, err := st2.LoadAdminSessions(t.Context(), "shop", newSessions(nil).now()); err != nil || len(stored) != 0 {
		t.Errorf("stored sessions after logout = %+v, %v; want none", stored, err)
	}
}
