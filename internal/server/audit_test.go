package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// auditServer runs serve in dir on the static driver with one webhook;
// stop ends it and waits.
func auditServer(t *testing.T, dir, webhook string) (s *Server, stop func()) {
	t.Helper()
	backend := func() string { return staticBackend(t, "ok") }
	yaml := fmt.Sprintf(`app: shop
listen: 127.0.0.1:0
preview_listen: ""
admin_listen: 127.0.0.1:0
state: state.db
admin_token_file: admin.token
driver:
  kind: static
  static: { blue: [%q], green: [%q] }
routing:
  preview_header: { name: "" }
health: { interval: 50ms, healthy_threshold: 1 }
checks: []
notify:
  - webhook: %s
`, backend(), backend(), webhook)
	s, stop = serveYAML(t, dir, yaml)
	waitServing(t, s.production.addr())
	return s, stop
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([0-9a-f]{64})">`)

func dashboardCSRF(t *testing.T, c *http.Client, admin string) string {
	t.Helper()
	res, err := c.Get("http://" + admin + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	m := csrfMeta.FindSubmatch(body)
	if m == nil {
		return ""
	}
	return string(m[1])
}

// A dashboard login reaches the webhook as an audit event, and the
// session made before a restart of serve on the same SQLite file is
// still valid after it, with the same CSRF token.
func TestAuditWebhookAndSessionAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	tok := strings.Repeat("t", 32)
	if err := os.WriteFile(filepath.Join(dir, "admin.token"), []byte(tok), 0o600); err != nil {
		t.Fatal(err)
	}
	got := make(chan map[string]any, 16)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err == nil {
			got <- m
		}
	}))
	t.Cleanup(hook.Close)

	s, stop := auditServer(t, dir, hook.URL)
	_, _, admin := s.Addrs()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("POST", "http://"+admin+"/login", strings.NewReader("token="+url.QueryEscape(tok)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", res.StatusCode)
	}
	csrf := dashboardCSRF(t, c, admin)
	if csrf == "" {
		t.Fatal("no session after login")
	}
	var audit map[string]any
	for audit == nil {
		m := recvWithin(t, (<-chan map[string]any)(got), "the audit event at the webhook")
		if m["phase"] == "audit" {
			audit = m
		}
	}
	data, _ := audit["data"].(map[string]any)
	if data["kind"] != "audit" || data["action"] != "login" || data["result"] != "ok" || data["remote"] != "127.0.0.1" ||
		!strings.HasPrefix(fmt.Sprint(data["actor"]), "session:") {
		t.Errorf("audit event = %v", audit)
	}
	body, _ := json.Marshal(audit)
	if strings.Contains(string(body), tok) || strings.Contains(string(body), csrf) {
		t.Errorf("audit event holds a secret: %s", body)
	}
	u, _ := url.Parse("http://" + admin)
	cookies := jar.Cookies(u)
	stop()

	s2, _ := auditServer(t, dir, hook.URL)
	_, _, admin2 := s2.Addrs()
	u2, _ := url.Parse("http://" + admin2)
	jar.SetCookies(u2, cookies)
	if again := dashboardCSRF(t, c, admin2); again != csrf {
		t.Fatalf("after the restart the dashboard gives CSRF %q, want the session's %q", again, csrf)
	}
}
