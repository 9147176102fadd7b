package config

import (
	"path/filepath"
	"testing"
)

// TestACMEDefaults: listen_tls.acme with only domains orders from Let's
// Encrypt production and caches beside the SQLite state file; written
// values win, relative to the config file.
func TestACMEDefaults(t *testing.T) {
	base := `app: shop
driver:
  kind: static
  static: { blue: ["127.0.0.1:3001"], green: ["127.0.0.1:3002"] }
redirect_listen: 127.0.0.1:8079
`
	cfg, err := Parse("bluegreen.yaml", []byte(base+"listen_tls: { acme: { domains: [shop.example.com, www.example.com] } }\n"), mapEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Dir = "/srv/shop"
	a := cfg.ListenTLS.ACME
	if !cfg.ListenTLS.On() || a == nil || len(a.Domains) != 2 {
		t.Fatalf("listen_tls = %+v, want ACME on for two domains", cfg.ListenTLS)
	}
	if got := a.Directory(); got != LetsEncryptProduction {
		t.Errorf("directory = %q, want Let's Encrypt production %q", got, LetsEncryptProduction)
	}
	if got, want := cfg.ACMECacheDir(a), filepath.Join("/srv/shop", ".bluegreen", "acme"); got != want {
		t.Errorf("cache dir = %q, want %q (beside the state file)", got, want)
	}

	cfg, err = Parse("bluegreen.yaml", []byte(base+`state: postgres://db/shop
listen_tls:
  acme:
    domains: [shop.example.com]
    email: ops@example.com
    directory_url: https://127.0.0.1:14000/dir
    ca_file: pebble/ca.pem
`), mapEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Dir = "/srv/shop"
	a = cfg.ListenTLS.ACME
	if a.Directory() != "https://127.0.0.1:14000/dir" || a.Email != "ops@example.com" || cfg.ACMECAPath(a) != "/srv/shop/pebble/ca.pem" {
		t.Errorf("acme = %+v, CA path %q", a, cfg.ACMECAPath(a))
	}
	if got, want := cfg.ACMECacheDir(a), "/srv/shop/.bluegreen/acme"; got != want {
		t.Errorf("cache dir with PostgreSQL state = %q, want %q", got, want)
	}
	a.CacheDir = "/var/lib/bluegreen/acme"
	if got := cfg.ACMECacheDir(a); got != a.CacheDir {
		t.Errorf("cache dir = %q, want the written %q", got, a.CacheDir)
	}
	if err := cfg.KeyError("listen_tls.acme.directory_url", "unreachable"); err == nil || err.Error() != "bluegreen.yaml:11:20: listen_tls.acme.directory_url: unreachable" {
		t.Errorf("KeyError = %v, want it placed at the directory_url value", err)
	}
}
