package router

import (
	"net/http"
	"testing"
)

// FuzzPreviewHeader checks the preview route against any header name,
// secret and value a client sends: it is refused when incomplete or when
// the name is not a token, and once enabled it accepts exactly one value
// equal to the secret, and strip removes the header whatever its case.
func FuzzPreviewHeader(f *testing.F) {
	f.Add("X-Preview", "s3cret", "s3cret")
	f.Fuzz(func(t *testing.T, header, secret, value string) {
		p, err := newPreviewRoute(header, secret)
		switch {
		case header == "" && secret == "":
			if err != nil || p.enabled() {
				t.Fatalf("no header and no secret: %v, enabled %v; want off", err, p.enabled())
			}
			return
		case header == "" || secret == "" || !validHeaderName(header):
			if err == nil {
				t.Fatalf("header %q, secret %q accepted; want an error", header, secret)
			}
			return
		case err != nil:
			t.Fatalf("header %q, secret %q: %v", header, secret, err)
		}
		if got, want := p.match([]string{value}), value == secret; got != want {
			t.Fatalf("match(%q) with secret %q = %v, want %v", value, secret, got, want)
		}
		if p.match([]string{secret, secret}) || p.match(nil) {
			t.Fatal("match accepts other than exactly one value")
		}
		h := http.Header{}
		h.Set(header, value)
		if !p.match(h.Values(header)) && value == secret {
			t.Fatalf("secret sent as %q not matched", header)
		}
		p.strip(h)
		if len(h) != 0 {
			t.Fatalf("strip left %v", h)
		}
	})
}
