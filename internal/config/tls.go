package config

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
)

// TLS is a listener's certificate: PEM files, relative to the config
// file's directory, or (production listener only) ACME. All empty: the
// listener speaks plain HTTP. serve reads the files again when either
// changes, without a restart.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ACME gets the certificate from an ACME CA (Let's Encrypt by
	// default) instead of files, and renews it.
	ACME *ACME `yaml:"acme"`
}

// ACME is listen_tls.acme: certificates for Domains ordered from the CA
// at DirectoryURL, kept in CacheDir and renewed before they expire. The
// CA validates on port 443 (TLS-ALPN-01, answered by the production
// listener) and on port 80 (HTTP-01, answered by redirect_listen when
// set).
type ACME struct {
	// Domains are the DNS names to get a certificate for (one
	// certificate each); a handshake for another name is refused.
	Domains []string `yaml:"domains"`
	// Email is the account's contact, for the CA's expiry notices.
	Email string `yaml:"email"`
	// DirectoryURL is the CA's ACME directory; empty: Let's Encrypt
	// production (LetsEncryptProduction).
	DirectoryURL string `yaml:"directory_url"`
	// CacheDir keeps the account key and the certificates, so that a
	// restart does not order again; empty: "acme" beside the SQLite
	// state file (.bluegreen/acme), relative to the config file.
	CacheDir string `yaml:"cache_dir"`
	// CAFile is a PEM bundle trusted, besides the system's roots, for
	// HTTPS to the directory: a private ACME CA's (such as pebble's).
	CAFile string `yaml:"ca_file"`
}

// The Let's Encrypt ACME directories.
const (
	LetsEncryptProduction = "https://acme-v02.api.letsencrypt.org/directory"
	LetsEncryptStaging    = "https://acme-staging-v02.api.letsencrypt.org/directory"
)

// Directory is directory_url, Let's Encrypt production when empty.
func (a *ACME) Directory() string {
	if a.DirectoryURL == "" {
		return LetsEncryptProduction
	}
	return a.DirectoryURL
}

// ACMECacheDir is a's cache_dir resolved against Dir; by default "acme"
// in the SQLite state file's directory, or .bluegreen/acme with
// PostgreSQL state.
func (c *Config) ACMECacheDir(a *ACME) string {
	switch {
	case a.CacheDir != "":
		return c.Path(a.CacheDir)
	case c.State != "" && !c.StateIsPostgres():
		return filepath.Join(filepath.Dir(c.StatePath()), "acme")
	default:
		return c.Path(filepath.Join(".bluegreen", "acme"))
	}
}

// ACMECAPath is a's ca_file resolved against Dir.
func (c *Config) ACMECAPath(a *ACME) string { return c.Path(a.CAFile) }

// KeyError is an error about the value at key (such as
// listen_tls.acme.directory_url) found after Parse, placed at its file
// and line like the validation errors.
func (c *Config) KeyError(key, format string, args ...any) error {
	return c.src.locate(key, []string{key}, false, format, args...)
}

// On says whether the listener terminates TLS.
func (t TLS) On() bool { return t.CertFile != "" || t.KeyFile != "" || t.ACME != nil }

// ListenerTLS is the TLS setting of each listener by its key.
func (c *Config) ListenerTLS() map[string]TLS {
	return map[string]TLS{"listen": c.ListenTLS, "preview_listen": c.PreviewListenTLS, "admin_listen": c.AdminListenTLS}
}

// tls checks listen_tls, preview_listen_tls, admin_listen_tls and
// redirect_listen.
func (v *validator) tls() {
	c := v.c
	for _, l := range []struct {
		key    string
		listen string
		t      TLS
	}{
		{"listen_tls", c.Listen, c.ListenTLS},
		{"preview_listen_tls", c.PreviewListen, c.PreviewListenTLS},
		{"admin_listen_tls", c.AdminListen, c.AdminListenTLS},
	} {
		if !l.t.On() {
			continue
		}
		if l.key == "preview_listen_tls" && l.listen == "" {
			v.at(l.key, "there is no preview listener: set preview_listen, or remove preview_listen_tls")
		}
		if l.t.ACME != nil {
			v.acme(l.key, l.t)
			continue
		}
		if l.t.CertFile == "" {
			v.at(l.key+".cert_file", "required with %s.key_file: the certificate chain (PEM), such as certs/tls.crt", l.key)
		}
		if l.t.KeyFile == "" {
			v.at(l.key+".key_file", "required with %s.cert_file: the private key (PEM), such as certs/tls.key", l.key)
		}
	}
	if r := c.RedirectListen; r != "" {
		if err := checkListen(r); err != nil {
			v.at("redirect_listen", "%v", err)
		}
		if !c.ListenTLS.On() {
			v.at("redirect_listen", "redirects plain HTTP to the production listener's HTTPS: set listen_tls too, or remove redirect_listen")
		}
		if _, port, _ := net.SplitHostPort(r); port != "0" && (r == c.Listen || r == c.PreviewListen || r == c.AdminListen) {
			v.at("redirect_listen", "same address as another listener (%s); the redirect needs its own", r)
		}
	}
}

// acme checks key.acme (key is listen_tls, preview_listen_tls or
// admin_listen_tls).
func (v *validator) acme(key string, t TLS) {
	p := key + ".acme"
	if key != "listen_tls" {
		v.at(p, "ACME is for the production listener only (listen_tls.acme: the CA validates on ports 443 and 80); give %s cert_file and key_file", key)
		return
	}
	if t.CertFile != "" || t.KeyFile != "" {
		v.at(p, "set either %s.cert_file and %s.key_file or %s.acme, not both", key, key, key)
	}
	a := t.ACME
	if len(a.Domains) == 0 {
		v.missing(p+".domains", []string{p + ".domains", p}, "required: the DNS names to get a certificate for, such as [shop.example.com]; each must resolve to this host")
	}
	seen := map[string]int{}
	for i, d := range a.Domains {
		k := fmt.Sprintf("%s.domains[%d]", p, i)
		if err := checkACMEDomain(d); err != nil {
			v.at(k, "%v", err)
			continue
		}
		d = strings.ToLower(strings.TrimSuffix(d, "."))
		if j, dup := seen[d]; dup {
			v.at(k, "duplicate domain %q (also %s.domains[%d])", d, p, j)
		}
		seen[d] = i
	}
	if a.Email != "" {
		if strings.HasPrefix(a.Email, "mailto:") || strings.Count(a.Email, "@") != 1 || strings.ContainsAny(a.Email, " ,<>") ||
			strings.HasPrefix(a.Email, "@") || strings.HasSuffix(a.Email, "@") {
			v.at(p+".email", "invalid email %q: want one address such as ops@example.com (the CA's expiry notices go there)", a.Email)
		}
	}
	if a.DirectoryURL != "" {
		u, err := url.Parse(a.DirectoryURL)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			v.at(p+".directory_url", "invalid ACME directory %q: want an https:// URL such as %s (Let's Encrypt staging, for trying the setup) or %s (production, the default)", a.DirectoryURL, LetsEncryptStaging, LetsEncryptProduction)
		}
	}
}

// checkACMEDomain accepts a DNS name with at least one dot: no IP
// address, port, scheme or wildcard (HTTP-01 and TLS-ALPN-01 cannot
// prove a wildcard).
func checkACMEDomain(d string) error {
	hint := "want a DNS name such as shop.example.com"
	switch {
	case d == "":
		return fmt.Errorf("empty domain: %s", hint)
	case strings.Contains(d, "://"):
		return fmt.Errorf("invalid domain %q: a name, not a URL: %s", d, hint)
	case strings.HasPrefix(d, "*."):
		return fmt.Errorf("invalid domain %q: a wildcard needs the DNS-01 challenge, which bluegreen does not answer: list each name, or give listen_tls cert_file and key_file", d)
	case net.ParseIP(strings.Trim(d, "[]")) != nil:
		return fmt.Errorf("invalid domain %q: an IP address: %s", d, hint)
	case strings.Contains(d, ":"):
		return fmt.Errorf("invalid domain %q: no port (the CA validates on 443 and 80): %s", d, hint)
	}
	name := strings.TrimSuffix(d, ".")
	if len(name) > 253 || !strings.Contains(name, ".") {
		return fmt.Errorf("invalid domain %q: %s (at least one dot)", d, hint)
	}
	for label := range strings.SplitSeq(name, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("invalid domain %q: label %q: %s", d, label, hint)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("invalid domain %q: character %q: %s (internationalized names in their xn-- form)", d, r, hint)
			}
		}
	}
	return nil
}
