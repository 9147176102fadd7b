package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/e2ebin"
	"github.com/bluegreen-dev/bluegreen/internal/pebbletest"
)

// acmeDomain is the name the tests get certificates for; pebbletest's
// DNS answers 127.0.0.1 for it.
const acmeDomain = "shop.bluegreen.test"

// acmeYAML is a serve config whose production listener (on prodPort)
// gets its certificate from p, with a redirect listener on redirectPort.
func acmeYAML(t *testing.T, p *pebbletest.Pebble, prodPort, redirectPort int) string {
	t.Helper()
	return fmt.Sprintf(`app: shop
listen: 127.0.0.1:%d
listen_tls:
  acme:
    domains: [%s]
    email: ops@bluegreen.test
    directory_url: %s
    ca_file: %s
redirect_listen: 127.0.0.1:%d
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
`, prodPort, acmeDomain, p.DirectoryURL, p.CAFile, redirectPort, staticBackend(t, "blue"), staticBackend(t, "green"))
}

// acmeClient is an HTTPS client trusting only roots that sends every
// request for acmeDomain to 127.0.0.1:port.
func acmeClient(t *testing.T, roots *x509.CertPool, port int) *http.Client {
	t.Helper()
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, fmt.Sprintf("127.0.0.1:%d", port))
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// getACME waits until a GET of https://acmeDomain/ is answered 200 by the
// router and returns the certificate it was served with.
func getACME(t *testing.T, c *http.Client) *x509.Certificate {
	t.Helper()
	var leaf *x509.Certificate
	var last error
	e2ebin.WaitFor(t, 2*time.Minute, "a 200 over HTTPS with the ACME certificate", func() bool {
		resp, err := c.Get("https://" + acmeDomain + "/")
		if err != nil {
			last = err
			return false
		}
		defer func() { _ = resp.Body.Close() }()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Bluegreen-Slot") == "" || resp.ProtoMajor != 2 {
			last = fmt.Errorf("%s %d, slot %q: %s", resp.Proto, resp.StatusCode, resp.Header.Get("X-Bluegreen-Slot"), body)
			return false
		}
		leaf = resp.TLS.PeerCertificates[0]
		return true
	})
	if leaf == nil {
		t.Fatalf("no answer: %v", last)
	}
	if !slices.Contains(leaf.DNSNames, acmeDomain) {
		t.Errorf("certificate for %v, want %s", leaf.DNSNames, acmeDomain)
	}
	return leaf
}

// TestACMECertificateFromPebble: the production listener gets its
// certificate from a real ACME server (pebble) that validates the
// TLS-ALPN-01 challenge on the listener itself (its HTTP-01 port is
// closed); a client trusting only
// pebble's root gets 200 over HTTP/2 from a backend; the certificate is
// cached (0600) and a restart serves it again without a new order, even
// with the CA gone.
func TestACMECertificateFromPebble(t *testing.T) {
	ports := e2ebin.FreePorts(t, 3)
	prodPort, redirectPort, closed := ports[0], ports[1], ports[2]
	// HTTP-01 goes to a closed port: only TLS-ALPN-01 can succeed.
	p := pebbletest.Start(t, pebbletest.Options{HTTPPort: closed, TLSPort: prodPort})
	dir := t.TempDir()
	yaml := acmeYAML(t, p, prodPort, redirectPort)
	_, stop := serveYAML(t, dir, yaml)

	roots := p.Roots(t)
	first := getACME(t, acmeClient(t, roots, prodPort))
	t.Logf("certificate serial %s for %v from %s", first.SerialNumber, first.DNSNames, first.Issuer)
	if n := p.Orders(); n != 1 {
		t.Errorf("pebble got %d orders, want 1", n)
	}
	if log := p.Log(); strings.Count(log, "set VALID by completed challenge") != 1 || strings.Contains(log, "Attempting to validate w/ HTTP") {
		t.Errorf("pebble did not validate one tls-alpn-01 challenge (and no http-01):\n%s", log)
	}
	// A client that trusts the system roots only does not accept it.
	if _, err := acmeClient(t, nil, prodPort).Get("https://" + acmeDomain + "/"); err == nil {
		t.Errorf("a client without pebble's root accepted the certificate")
	}

	// No server name (a client dialling the address): the first domain's
	// certificate. Another name: refused, nothing ordered for it.
	addr := fmt.Sprintf("127.0.0.1:%d", prodPort)
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("handshake without a server name: %v", err)
	}
	if names := conn.ConnectionState().PeerCertificates[0].DNSNames; !slices.Contains(names, acmeDomain) {
		t.Errorf("without a server name: certificate for %v, want %s", names, acmeDomain)
	}
	_ = conn.Close()
	if conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "other.bluegreen.test", InsecureSkipVerify: true}); err == nil {
		_ = conn.Close()
		t.Errorf("a handshake for a name not in domains succeeded")
	}
	if n := p.Orders(); n != 1 {
		t.Errorf("pebble got %d orders after those handshakes, want still 1", n)
	}

	cacheDir := filepath.Join(dir, "acme") // beside state.db
	for path, want := range map[string]os.FileMode{cacheDir: 0o700, filepath.Join(cacheDir, acmeDomain): 0o600, filepath.Join(cacheDir, "acme_account+key"): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatalf("cache: %v", err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s has mode %o, want %o", path, got, want)
		}
	}
	cached, err := os.ReadFile(filepath.Join(cacheDir, acmeDomain))
	if err != nil {
		t.Fatal(err)
	}

	// Restart: the cached certificate, no new order.
	stop()
	_, stop = serveYAML(t, dir, yaml)
	again := getACME(t, acmeClient(t, roots, prodPort))
	if again.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Errorf("after a restart: serial %s, want the cached %s", again.SerialNumber, first.SerialNumber)
	}
	if n := p.Orders(); n != 1 {
		t.Errorf("after a restart pebble got %d orders in all, want still 1", n)
	}
	if now, _ := os.ReadFile(filepath.Join(cacheDir, acmeDomain)); string(now) != string(cached) {
		t.Errorf("the cache file changed across the restart")
	}

	// Restart with the CA gone: serve starts on the cache.
	stop()
	p.Stop()
	serveYAML(t, dir, yaml)
	if again := getACME(t, acmeClient(t, roots, prodPort)); again.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Errorf("after a restart without the CA: serial %s, want the cached %s", again.SerialNumber, first.SerialNumber)
	}
}

// TestACMEHTTP01OnRedirectListener: when the CA cannot reach the TLS
// listener for TLS-ALPN-01, the order is repeated with HTTP-01, answered
// by the redirect listener, which still redirects everything else.
func TestACMEHTTP01OnRedirectListener(t *testing.T) {
	ports := e2ebin.FreePorts(t, 3)
	prodPort, redirectPort, closed := ports[0], ports[1], ports[2]
	p := pebbletest.Start(t, pebbletest.Options{HTTPPort: redirectPort, TLSPort: closed})
	s, _ := serveYAML(t, t.TempDir(), acmeYAML(t, p, prodPort, redirectPort))

	getACME(t, acmeClient(t, p.Roots(t), prodPort))
	log := p.Log()
	if !strings.Contains(log, fmt.Sprintf("Attempting to validate w/ HTTP: http://%s:%d/.well-known/acme-challenge/", acmeDomain, redirectPort)) ||
		!strings.Contains(log, "set VALID by completed challenge") {
		t.Errorf("pebble did not validate http-01 on the redirect listener:\n%s", log)
	}
	if n := p.Orders(); n != 2 {
		t.Errorf("pebble got %d orders, want 2 (tls-alpn-01 failing, then http-01)", n)
	}
	plain := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodGet, "http://"+s.redirect.addr()+"/cart", nil)
	req.Host = acmeDomain
	resp, err := plain.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if want := fmt.Sprintf("https://%s:%d/cart", acmeDomain, prodPort); resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != want {
		t.Errorf("redirect listener: %d to %q, want 301 to %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
}

// TestACMEBadDirectory: serve does not start when the ACME directory
// cannot be read and nothing is cached, and says which key, what
// happened and what to check.
func TestACMEBadDirectory(t *testing.T) {
	ports := e2ebin.FreePorts(t, 3)
	p := pebbletest.Start(t, pebbletest.Options{HTTPPort: ports[1], TLSPort: ports[0]})
	u := strings.TrimSuffix(p.DirectoryURL, "/dir")
	for _, tc := range []struct {
		name, dirURL, caFile, want string
	}{
		{"nothing listening", fmt.Sprintf("https://127.0.0.1:%d/dir", ports[2]), p.CAFile, "connection refused"},
		{"not a directory", u + "/nope", p.CAFile, "404"},
		{"untrusted CA", p.DirectoryURL, "", "a private CA needs ca_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			yaml := strings.Replace(acmeYAML(t, p, ports[0], ports[1]), "directory_url: "+p.DirectoryURL, "directory_url: "+tc.dirURL, 1)
			if tc.caFile == "" {
				yaml = strings.Replace(yaml, "    ca_file: "+p.CAFile+"\n", "", 1)
			}
			path := filepath.Join(dir, "bluegreen.yaml")
			if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "admin.token"), []byte(strings.Repeat("t", 32)), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			s, err := New(t.Context(), cfg, slog.New(slog.NewTextHandler(t.Output(), nil)))
			if err == nil {
				s.closeAll()
				t.Fatal("New succeeded, want an error about the ACME directory")
			}
			msg := err.Error()
			t.Log(msg)
			for _, want := range []string{"bluegreen.yaml:7:20: listen_tls.acme.directory_url: cannot read the ACME directory " + tc.dirURL, tc.want, "staging: " + config.LetsEncryptStaging} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not say %q", msg, want)
				}
			}
		})
	}
}
