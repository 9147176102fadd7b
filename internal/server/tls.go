package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/config"
)

// certCheckInterval is how often a TLS handshake may look at the
// certificate files for a change (one stat of each).
const certCheckInterval = time.Second

// certFiles serves a listener's certificate from its PEM files and loads
// them again when either changes (a rotation by cert-manager, certbot or
// a deploy), without a restart. A pair that does not load — a rotation
// half written, a key that does not match — keeps the certificate in
// use, logged, until the files are whole again.
type certFiles struct {
	name      string // the config key, such as listen_tls
	cert, key string
	log       *slog.Logger

	mu      sync.Mutex
	current *tls.Certificate
	stamp   string // size and mtime of both files when current was loaded
	checked time.Time
	failed  string // the stamp that last failed to load, logged once
}

// newCertFiles loads t's files now: a listener never starts without a
// certificate.
func newCertFiles(name string, t config.TLS, cfg *config.Config, log *slog.Logger) (*certFiles, error) {
	c := &certFiles{name: name, cert: cfg.Path(t.CertFile), key: cfg.Path(t.KeyFile), log: log}
	stamp, err := c.fileStamp()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	cert, err := c.load()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	c.current, c.stamp, c.checked = cert, stamp, time.Now()
	return c, nil
}

func (c *certFiles) fileStamp() (string, error) {
	var b strings.Builder
	for _, p := range []string{c.cert, c.key} {
		fi, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%d:%d;", fi.Size(), fi.ModTime().UnixNano())
	}
	return b.String(), nil
}

func (c *certFiles) load() (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(c.cert, c.key)
	if err != nil {
		return nil, fmt.Errorf("load certificate %s and key %s: %w", c.cert, c.key, err)
	}
	if cert.Leaf == nil && len(cert.Certificate) > 0 {
		cert.Leaf, _ = x509.ParseCertificate(cert.Certificate[0])
	}
	return &cert, nil
}

// get is tls.Config.GetCertificate.
func (c *certFiles) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); now.Sub(c.checked) >= certCheckInterval {
		c.checked = now
		c.reload()
	}
	return c.current, nil
}

// reload loads the files when their stamp changed since the last load.
func (c *certFiles) reload() {
	stamp, err := c.fileStamp()
	if err != nil || stamp == c.stamp || stamp == c.failed {
		if err != nil && c.failed != err.Error() {
			c.failed = err.Error()
			c.log.Warn("certificate files unreadable: keeping the certificate in use", "listener", c.name, "error", err)
		}
		return
	}
	cert, err := c.load()
	if err != nil {
		c.failed = stamp
		c.log.Warn("certificate files changed but do not load: keeping the certificate in use", "listener", c.name, "error", err)
		return
	}
	c.current, c.stamp, c.failed = cert, stamp, ""
	attrs := []any{"listener", c.name, "cert_file", c.cert}
	if cert.Leaf != nil {
		attrs = append(attrs, "subject", cert.Leaf.Subject.String(), "not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	c.log.Info("certificate reloaded", attrs...)
}

// tlsConfig is a listener's TLS: 1.2 at least (1.3 is preferred by Go's
// negotiation), HTTP/2 and HTTP/1.1 offered by ALPN, the certificate from
// files.
func tlsConfig(files *certFiles) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1"},
		GetCertificate: files.get,
	}
}

// listenerTLS is the TLS configuration of the listener with key name
// (listen, preview_listen, admin_listen), nil when it speaks plain HTTP;
// acme is set when the certificates come from ACME (listen_tls.acme).
func listenerTLS(ctx context.Context, cfg *config.Config, name string, log *slog.Logger) (tc *tls.Config, acme *acmeCerts, err error) {
	t := cfg.ListenerTLS()[name]
	if !t.On() {
		return nil, nil, nil
	}
	if t.ACME != nil {
		if acme, err = newACME(ctx, name+"_tls", t.ACME, cfg, log); err != nil {
			return nil, nil, err
		}
		return acmeTLSConfig(acme), acme, nil
	}
	files, err := newCertFiles(name+"_tls", t, cfg, log)
	if err != nil {
		return nil, nil, err
	}
	return tlsConfig(files), nil, nil
}

// redirectHandler answers every request with a permanent redirect to the
// same host and path on the production listener's HTTPS (port from
// httpsAddr, left out when 443). GET and HEAD get 301, the rest 308, so
// that a client repeats its method and body.
func redirectHandler(httpsAddr func() string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if host == "" || strings.ContainsAny(host, "/\\@ ") {
			http.Error(w, "bad Host header", http.StatusBadRequest)
			return
		}
		if strings.Contains(host, ":") { // an IPv6 literal
			host = "[" + host + "]"
		}
		if _, port, err := net.SplitHostPort(httpsAddr()); err == nil && port != "443" {
			host += ":" + port
		}
		code := http.StatusPermanentRedirect
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			code = http.StatusMovedPermanently
		}
		w.Header().Set("Connection", "close")
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), code)
	})
}
