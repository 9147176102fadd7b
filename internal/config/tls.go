package config

import "net"

// TLS is a listener's certificate: PEM files, relative to the config
// file's directory. Both empty: the listener speaks plain HTTP. serve
// reads them again when either changes, without a restart.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// On says whether the listener terminates TLS.
func (t TLS) On() bool { return t.CertFile != "" || t.KeyFile != "" }

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
		if l.t.CertFile == "" {
			v.at(l.key+".cert_file", "required with %s.key_file: the certificate chain (PEM), such as certs/tls.crt", l.key)
		}
		if l.t.KeyFile == "" {
			v.at(l.key+".key_file", "required with %s.cert_file: the private key (PEM), such as certs/tls.key", l.key)
		}
		if l.key == "preview_listen_tls" && l.listen == "" {
			v.at(l.key, "there is no preview listener: set preview_listen, or remove preview_listen_tls")
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
