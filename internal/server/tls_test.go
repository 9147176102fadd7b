package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/config"
)

// testCA signs the listeners' certificates of these tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bluegreen test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue writes a certificate for 127.0.0.1 with serial into certFile and
// its key into keyFile, each through a rename (as certificate tools do).
func (ca *testCA) issue(t *testing.T, serial int64, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeRenamed(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	writeRenamed(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
}

func writeRenamed(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// tlsServer runs `serve` (New and Run) on a static driver whose two slots
// are httptest backends, with the production listener on HTTPS from
// files in dir and a redirect listener.
func tlsServer(t *testing.T, ca *testCA) (s *Server, certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	ca.issue(t, 1, certFile, keyFile)
	backend := func(name string) string { return staticBackend(t, name) }
	yaml := fmt.Sprintf(`app: shop
listen: 127.0.0.1:0
listen_tls: { cert_file: tls.crt, key_file: tls.key }
redirect_listen: 127.0.0.1:0
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
`, backend("blue"), backend("green"))
	s, _ = serveYAML(t, dir, yaml)
	return s, certFile, keyFile
}

// TestHTTPSRotationUnderLoad: the production listener serves HTTPS, over
// HTTP/2 and HTTP/1.1, from certificate files; the files are replaced
// while clients keep sending requests, new connections get the new
// certificate without a restart, and no request fails. The redirect
// listener sends plain HTTP to the same path on HTTPS.
func TestHTTPSRotationUnderLoad(t *testing.T) {
	ca := newTestCA(t)
	s, certFile, keyFile := tlsServer(t, ca)
	prod := s.production.addr()

	newClient := func(h2 bool) *http.Client {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool}, ForceAttemptHTTP2: h2}
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{} // HTTP/1.1 only
		}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr, Timeout: 10 * time.Second}
	}
	// get sends one request and returns the serial of the certificate
	// its connection was made with.
	get := func(c *http.Client, wantProto int) (int64, error) {
		resp, err := c.Get("https://" + prod + "/")
		if err != nil {
			return 0, err
		}
		defer func() { _ = resp.Body.Close() }()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return 0, err
		}
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("status %d", resp.StatusCode)
		}
		if resp.ProtoMajor != wantProto {
			return 0, fmt.Errorf("protocol %s, want HTTP/%d", resp.Proto, wantProto)
		}
		if resp.Header.Get("X-Bluegreen-Slot") == "" {
			return 0, fmt.Errorf("no X-Bluegreen-Slot: not answered by the router")
		}
		return resp.TLS.PeerCertificates[0].SerialNumber.Int64(), nil
	}

	// The route is up once a request gets through.
	deadline := time.Now().Add(hang)
	for {
		if _, err := get(newClient(true), 2); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("no answer over HTTPS within %s: %v", hang, err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	var ok, failed atomic.Int64
	var mu sync.Mutex
	var firstErr error
	var sawNew atomic.Bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 8 {
		h2 := i%2 == 0
		proto := 1
		if h2 {
			proto = 2
		}
		c := newClient(h2)
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				if n%20 == 0 {
					// New connections from time to time, so the rotation shows.
					c.Transport.(*http.Transport).CloseIdleConnections()
				}
				serial, err := get(c, proto)
				if err != nil {
					if failed.Add(1) == 1 {
						mu.Lock()
						firstErr = err
						mu.Unlock()
					}
					continue
				}
				ok.Add(1)
				if serial == 2 {
					sawNew.Store(true)
				}
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	ca.issue(t, 2, certFile, keyFile)
	deadline = time.Now().Add(hang)
	for !sawNew.Load() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // more traffic on the new certificate
	close(stop)
	wg.Wait()
	t.Logf("%d requests answered over HTTPS during the rotation, %d failed", ok.Load(), failed.Load())
	if !sawNew.Load() {
		t.Errorf("no client saw the new certificate (serial 2) within %s of the rotation", hang)
	}
	if n := failed.Load(); n > 0 {
		t.Errorf("%d requests failed during the rotation; first: %v", n, firstErr)
	}
	if serial, err := get(newClient(false), 1); err != nil || serial != 2 {
		t.Errorf("a new connection after the rotation: serial %d, %v; want 2", serial, err)
	}

	// Plain HTTP on the redirect listener: to the same path and query on
	// HTTPS, 301 for GET, 308 (method kept) for POST.
	plain := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	_, port, _ := net.SplitHostPort(prod)
	for _, tc := range []struct {
		method string
		code   int
	}{{http.MethodGet, http.StatusMovedPermanently}, {http.MethodPost, http.StatusPermanentRedirect}} {
		req, _ := http.NewRequest(tc.method, "http://"+s.redirect.addr()+"/orders/7?x=1", nil)
		req.Host = "127.0.0.1"
		resp, err := plain.Do(req)
		if err != nil {
			t.Fatalf("redirect listener: %v", err)
		}
		_ = resp.Body.Close()
		want := "https://127.0.0.1:" + port + "/orders/7?x=1"
		if resp.StatusCode != tc.code || resp.Header.Get("Location") != want {
			t.Errorf("%s on the redirect listener: %d to %q, want %d to %q", tc.method, resp.StatusCode, resp.Header.Get("Location"), tc.code, want)
		}
	}
}

// TestCertificateHalfWrittenKeepsTheOldOne: a key that does not match the
// new certificate (a rotation caught between its two files) keeps the
// certificate in use; the whole pair then loads.
func TestCertificateHalfWrittenKeepsTheOldOne(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	ca.issue(t, 1, certFile, keyFile)
	cfg := &config.Config{Dir: dir}
	files, err := newCertFiles("listen_tls", config.TLS{CertFile: "tls.crt", KeyFile: "tls.key"}, cfg, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	serial := func() int64 {
		files.mu.Lock()
		files.checked = time.Time{} // look at the files on this handshake
		files.mu.Unlock()
		c, err := files.get(nil)
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf.SerialNumber.Int64()
	}
	keep, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ca.issue(t, 2, certFile, keyFile)
	writeRenamed(t, keyFile, keep) // the old key with the new certificate
	if got := serial(); got != 1 {
		t.Errorf("mismatched pair: serving serial %d, want the old 1", got)
	}
	ca.issue(t, 3, certFile, keyFile)
	if got := serial(); got != 3 {
		t.Errorf("whole new pair: serving serial %d, want 3", got)
	}
	if _, err := newCertFiles("listen_tls", config.TLS{CertFile: "missing.crt", KeyFile: "tls.key"}, cfg, slog.Default()); err == nil || !strings.Contains(err.Error(), "listen_tls") {
		t.Errorf("missing certificate file: %v, want an error naming listen_tls", err)
	}
}
