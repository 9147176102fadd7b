package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"github.com/bluegreen-dev/bluegreen/internal/config"
)

// acmeDiscoverTimeout bounds the look at the ACME directory when serve
// starts.
const acmeDiscoverTimeout = 15 * time.Second

// acmeLogEvery is how often the same certificate failure is logged at
// warning level (handshakes retry it; the log should not).
const acmeLogEvery = time.Minute

// acmeCerts gets the production listener's certificates from an ACME CA
// (listen_tls.acme) through autocert: ordered on the first handshake for
// a name (and when serve starts), kept in the cache directory (0600
// files in a 0700 directory) so that a restart does not order again,
// renewed 30 days before they expire. TLS-ALPN-01 is answered on the
// TLS listener, HTTP-01 by the redirect listener (challenge).
type acmeCerts struct {
	name    string // listen_tls
	domains []string
	m       *autocert.Manager
	log     *slog.Logger

	mu     sync.Mutex
	logged map[string]time.Time // failure → when last logged
}

// newACME sets up a's manager and reads the CA's directory now, so that
// a wrong directory_url or an untrusted CA stops serve at start with the
// key named — unless every domain's certificate is already cached, when
// the CA is not needed until a renewal (then it is a warning).
func newACME(ctx context.Context, name string, a *config.ACME, cfg *config.Config, log *slog.Logger) (*acmeCerts, error) {
	key := name + ".acme"
	dir := cfg.ACMECacheDir(a)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, cfg.KeyError(key+".cache_dir", "create the ACME cache directory: %v", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, cfg.KeyError(key+".cache_dir", "make the ACME cache directory private: %v", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = 30 * time.Second
	if a.CAFile != "" {
		path := cfg.ACMECAPath(a)
		pem, err := os.ReadFile(path)
		if err != nil {
			return nil, cfg.KeyError(key+".ca_file", "read the ACME CA's certificate: %v", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, cfg.KeyError(key+".ca_file", "%s has no PEM certificate (want the CA certificate that signed the ACME server's HTTPS certificate)", path)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	domains := make([]string, len(a.Domains))
	for i, d := range a.Domains {
		domains[i] = strings.ToLower(strings.TrimSuffix(d, "."))
	}
	client := &acme.Client{DirectoryURL: a.Directory(), HTTPClient: &http.Client{Transport: &orderLocations{next: tr}}, UserAgent: "bluegreen"}
	c := &acmeCerts{
		name: name, domains: domains, log: log, logged: map[string]time.Time{},
		m: &autocert.Manager{
			Prompt:     autocert.AcceptTOS,
			Cache:      savedLog{autocert.DirCache(dir), name, log},
			HostPolicy: autocert.HostWhitelist(domains...),
			Email:      a.Email,
			Client:     client,
		},
	}

	dctx, cancel := context.WithTimeout(ctx, acmeDiscoverTimeout)
	defer cancel()
	if _, err := client.Discover(dctx); err != nil {
		msg := fmt.Sprintf("cannot read the ACME directory %s: %v; check the URL (Let's Encrypt: %s, staging: %s), that this host reaches it, and ca_file for a private CA",
			a.Directory(), describeACMEError(err), config.LetsEncryptProduction, config.LetsEncryptStaging)
		if missing := c.uncached(ctx); len(missing) > 0 {
			return nil, cfg.KeyError(key+".directory_url", "%s (no certificate cached in %s for %s)", msg, dir, strings.Join(missing, ", "))
		}
		log.Warn("ACME directory unreachable: serving the cached certificates; renewal retries later", "listener", name, "directory_url", a.Directory(), "error", err)
	}
	log.Info("ACME certificates", "listener", name, "domains", strings.Join(domains, ","), "directory_url", a.Directory(), "cache_dir", dir)
	return c, nil
}

// savedLog is the cache, logging each certificate it is given: the
// first one and every renewal (autocert renews silently).
type savedLog struct {
	autocert.DirCache
	name string
	log  *slog.Logger
}

func (s savedLog) Put(ctx context.Context, key string, data []byte) error {
	err := s.DirCache.Put(ctx, key, data)
	if strings.HasSuffix(key, "+token") || strings.HasSuffix(key, "+key") {
		return err // a TLS-ALPN-01 challenge's certificate, the account key
	}
	if err != nil {
		s.log.Error("ACME certificate not saved in the cache: a restart will order it again", "listener", s.name, "key", key, "cache_dir", string(s.DirCache), "error", err)
		return err
	}
	s.log.Info("ACME certificate saved (issued or renewed)", "listener", s.name, "key", key, "cache_dir", string(s.DirCache))
	return nil
}

// describeACMEError says what an error from the directory means.
func describeACMEError(err error) string {
	var ae *acme.Error
	if errors.As(err, &ae) {
		return fmt.Sprintf("the server answered HTTP %d: %s", ae.StatusCode, strings.TrimSpace(ae.Detail))
	}
	var ue x509.UnknownAuthorityError
	if errors.As(err, &ue) {
		return fmt.Sprintf("%v (a private CA needs ca_file)", err)
	}
	return err.Error()
}

// uncached lists the domains with no certificate in the cache.
func (c *acmeCerts) uncached(ctx context.Context) []string {
	var missing []string
	for _, d := range c.domains {
		// autocert keeps a domain's ECDSA certificate under its name.
		if _, err := c.m.Cache.Get(ctx, d); err != nil {
			missing = append(missing, d)
		}
	}
	return missing
}

// get is tls.Config.GetCertificate. A handshake without a server name
// (a client dialling by address) gets the first domain's certificate; a
// failure is logged, once a minute for the same one, at debug level for
// names not configured (scanners).
func (c *acmeCerts) get(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if hello.ServerName == "" {
		h := *hello
		h.ServerName = c.domains[0]
		hello = &h
	}
	cert, err := c.m.GetCertificate(hello)
	if err != nil {
		c.failed(hello.ServerName, err)
	}
	return cert, err
}

func (c *acmeCerts) failed(name string, err error) {
	known := false
	for _, d := range c.domains {
		known = known || strings.EqualFold(strings.TrimSuffix(name, "."), d)
	}
	if !known {
		c.log.Debug("TLS handshake for a name not in listen_tls.acme.domains", "listener", c.name, "server_name", name, "error", err)
		return
	}
	k := name + "\x00" + err.Error()
	now := time.Now()
	c.mu.Lock()
	last, seen := c.logged[k]
	due := !seen || now.Sub(last) >= acmeLogEvery
	if due {
		if len(c.logged) >= 256 { // errors that differ each time (order URLs)
			clear(c.logged)
		}
		c.logged[k] = now
	}
	c.mu.Unlock()
	if due {
		c.log.Warn("no ACME certificate for this handshake", "listener", c.name, "server_name", name, "error", err)
	}
}

// warm gets each domain's certificate when serve starts (the listeners
// answer the CA's challenges by then), so that the first client does not
// wait for an order; it logs what it got.
func (c *acmeCerts) warm(ctx context.Context) {
	type got struct {
		cert *tls.Certificate
		err  error
	}
	for _, d := range c.domains {
		done := make(chan got, 1)
		go func() {
			cert, err := c.m.GetCertificate(&tls.ClientHelloInfo{
				ServerName:       d,
				SignatureSchemes: []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
				SupportedCurves:  []tls.CurveID{tls.CurveP256},
				CipherSuites:     []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
			})
			done <- got{cert, err}
		}()
		var r got
		select {
		case <-ctx.Done(): // serve stops; the order may finish, unlogged
			return
		case r = <-done:
		}
		if r.err != nil {
			c.log.Error("ACME certificate not obtained: clients of this name get a TLS error until it is (retried on their handshakes)", "listener", c.name, "domain", d, "error", r.err)
			continue
		}
		attrs := []any{"listener", c.name, "domain", d}
		if leaf := r.cert.Leaf; leaf != nil {
			attrs = append(attrs, "issuer", leaf.Issuer.String(), "serial", leaf.SerialNumber.String(), "not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
		}
		c.log.Info("ACME certificate ready", attrs...)
	}
}

// challenge answers the CA's HTTP-01 requests on the redirect listener
// and passes the rest to next.
func (c *acmeCerts) challenge(next http.Handler) http.Handler {
	h := c.m.HTTPHandler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/") {
			// autocert checks Host against the domains: without the port
			// (the CA's requests to port 80 have none; a test's do).
			if host, _, err := net.SplitHostPort(r.Host); err == nil {
				r = r.Clone(r.Context())
				r.Host = host
			}
		}
		h.ServeHTTP(w, r)
	})
}

// acmeTLSConfig is the production listener's TLS with ACME: as
// tlsConfig, and ALPN acme-tls/1 for the CA's TLS-ALPN-01 check.
func acmeTLSConfig(c *acmeCerts) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1", acme.ALPNProto},
		GetCertificate: c.get,
	}
}
