package router

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// DefaultStickyTTL is used when StickyOptions.TTL is zero.
const DefaultStickyTTL = time.Hour

// StickyOptions pins a client to the slot it first got during a weighted
// split, with a cookie.
type StickyOptions struct {
	// Cookie is the cookie name, e.g. "bg_slot".
	Cookie string
	// TTL is the cookie's Max-Age; zero means DefaultStickyTTL.
	TTL time.Duration
}

// sticky reads, writes and strips the pinning cookie.
type sticky struct {
	name string
	// setCookie holds the Set-Cookie value per slot index (len == cap so an
	// append never writes into the shared array); secureCookie the same
	// with Secure, for requests that came over TLS.
	setCookie, secureCookie [numSlots][]string
}

func newSticky(o *StickyOptions) (*sticky, error) {
	if o == nil {
		return nil, nil
	}
	ttl := o.TTL
	if ttl == 0 {
		ttl = DefaultStickyTTL
	}
	if ttl < time.Second {
		return nil, fmt.Errorf("sticky cookie %q: ttl %s is shorter than a second", o.Cookie, o.TTL)
	}
	st := &sticky{name: o.Cookie}
	for i, slot := range allSlots() {
		c := &http.Cookie{
			Name:     o.Cookie,
			Value:    string(slot),
			Path:     "/",
			MaxAge:   int(ttl / time.Second),
			HttpOnly: true,
			SameSite: http.SameSiteLaxMode,
		}
		if err := c.Valid(); err != nil {
			return nil, fmt.Errorf("sticky cookie %q: %w", o.Cookie, err)
		}
		st.setCookie[i] = []string{c.String()}[:1:1]
		c.Secure = true
		st.secureCookie[i] = []string{c.String()}[:1:1]
	}
	return st, nil
}

// lookup returns the value of the sticky cookie in the request headers,
// without allocating.
func (s *sticky) lookup(h http.Header) (string, bool) {
	for _, line := range h["Cookie"] {
		if v, ok := cookieValue(line, s.name); ok {
			return v, true
		}
	}
	return "", false
}

// pin asks the client to stick to the slot with index i; over TLS
// (secure) the cookie is Secure.
func (s *sticky) pin(h http.Header, i int, secure bool) {
	set := s.setCookie[i]
	if secure {
		set = s.secureCookie[i]
	}
	if prev := h["Set-Cookie"]; len(prev) > 0 {
		h["Set-Cookie"] = append(prev, set[0])
		return
	}
	h["Set-Cookie"] = set
}

// strip removes the sticky cookie (and only it) from the Cookie headers of
// a request about to be forwarded.
func (s *sticky) strip(h http.Header) {
	lines := h["Cookie"]
	found := false
	for _, line := range lines {
		if _, ok := cookieValue(line, s.name); ok {
			found = true
			break
		}
	}
	if !found {
		return
	}
	kept := make([]string, 0, len(lines))
	for _, line := range lines {
		var b strings.Builder
		for part := range strings.SplitSeq(line, ";") {
			p := strings.TrimSpace(part)
			if p == "" {
				continue
			}
			if name, _, _ := strings.Cut(p, "="); name == s.name {
				continue
			}
			if b.Len() > 0 {
				b.WriteString("; ")
			}
			b.WriteString(p)
		}
		if b.Len() > 0 {
			kept = append(kept, b.String())
		}
	}
	if len(kept) == 0 {
		delete(h, "Cookie")
		return
	}
	h["Cookie"] = kept
}

// cookieValue finds cookie name in one Cookie header line
// ("a=1; name=v; b=2").
func cookieValue(line, name string) (string, bool) {
	for line != "" {
		var part string
		part, line, _ = strings.Cut(line, ";")
		part = strings.TrimSpace(part)
		k, v, ok := strings.Cut(part, "=")
		if ok && k == name {
			return strings.Trim(v, `"`), true
		}
	}
	return "", false
}
