package notify

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// endpoint is one webhook URL. raw may hold secrets (userinfo, query) and
// is only ever given to the HTTP client; safe and host are what logs,
// errors and metric labels see.
type endpoint struct {
	raw     string
	safe    string   // scheme://host/path
	host    string   // host[:port], the url_host label
	secrets []string // substrings of raw that must never be shown
}

// minSecretLen is the shortest query value masked on its own.
const minSecretLen = 4

// parseEndpoint checks that raw is an absolute http(s) URL. Its error never
// contains raw.
func parseEndpoint(raw string) (endpoint, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the whole URL; keep only the reason.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return endpoint{}, fmt.Errorf("parse webhook url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return endpoint{}, fmt.Errorf("webhook url %s: scheme must be http or https", safeURL(u))
	}
	if u.Host == "" {
		return endpoint{}, fmt.Errorf("webhook url %s: no host", safeURL(u))
	}
	e := endpoint{raw: raw, safe: safeURL(u), host: strings.ToLower(u.Host)}
	if u.User != nil {
		e.secrets = append(e.secrets, u.User.String())
		if p, ok := u.User.Password(); ok && p != "" {
			e.secrets = append(e.secrets, p)
		}
	}
	if u.RawQuery != "" {
		e.secrets = append(e.secrets, u.RawQuery)
		for _, vs := range u.Query() {
			for _, v := range vs {
				// Shorter values are masked as part of RawQuery only, so a
				// "v=1" does not blank every "1" in a message.
				if len(v) >= minSecretLen {
					e.secrets = append(e.secrets, v, url.QueryEscape(v))
				}
			}
		}
	}
	return e, nil
}

// safeURL is u without userinfo, query and fragment.
//
// Only the first path segment is kept: chat webhooks (Slack, Discord) carry
// their secret in the rest of the path.
func safeURL(u *url.URL) string {
	s := &url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	first, rest, ok := strings.Cut(strings.TrimPrefix(s.EscapedPath(), "/"), "/")
	if !ok || rest == "" {
		return s.String()
	}
	return u.Scheme + "://" + u.Host + "/" + first + "/..."
}

// redact returns err's message with the full URL replaced by the safe one
// and any secret part of it masked. The HTTP client's errors (*url.Error)
// quote the whole URL, query and userinfo included.
func (e endpoint) redact(err error) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	msg := strings.ReplaceAll(err.Error(), e.raw, e.safe)
	for _, s := range e.secrets {
		msg = strings.ReplaceAll(msg, s, "REDACTED")
	}
	return msg
}
