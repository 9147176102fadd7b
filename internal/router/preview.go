package router

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"strings"
)

// previewRoute matches the preview header on the production listener. The
// secret is kept only as a SHA-256 digest so that comparisons take the same
// time whatever the length of the value a client sends.
type previewRoute struct {
	key    string // canonical header name; "" when header routing is off
	digest [sha256.Size]byte
}

func newPreviewRoute(header, secret string) (previewRoute, error) {
	switch {
	case header == "" && secret == "":
		return previewRoute{}, nil
	case header == "":
		return previewRoute{}, errors.New("preview header: a secret is set but no header name")
	case secret == "":
		return previewRoute{}, fmt.Errorf("preview header %s: no secret; refusing an open preview route", header)
	}
	if !validHeaderName(header) {
		return previewRoute{}, fmt.Errorf("preview header %q: not a valid header name", header)
	}
	return previewRoute{
		key:    textproto.CanonicalMIMEHeaderKey(header),
		digest: sha256.Sum256([]byte(secret)),
	}, nil
}

func (p *previewRoute) enabled() bool { return p.key != "" }

// match reports whether the request's preview header values are exactly
// one value equal to the secret, compared in constant time.
func (p *previewRoute) match(values []string) bool {
	if len(values) != 1 {
		return false
	}
	got := sha256.Sum256([]byte(values[0]))
	return subtle.ConstantTimeCompare(got[:], p.digest[:]) == 1
}

// strip removes the preview header from a request about to be forwarded.
func (p *previewRoute) strip(h http.Header) {
	if p.key != "" {
		delete(h, p.key)
	}
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenByte[s[i]] {
			return false
		}
	}
	return true
}

// tokenByte holds the bytes a token may have (RFC 9110 §5.6.2: visible
// ASCII but the delimiters), one lookup per byte.
var tokenByte = func() (t [256]bool) {
	for c := '!'; c < 0x7f; c++ {
		t[c] = !strings.ContainsRune("\"(),/:;<=>?@[\\]{}", c)
	}
	return t
}()
