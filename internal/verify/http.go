package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/config"
)

// httpOnce sends check i's request once and returns why it failed, every
// failed assertion joined by "; ", or "" when it passed.
func (r *Runner) httpOnce(ctx context.Context, baseURL string, i int) string {
	c := &r.checks[i]
	h := c.HTTP
	limit := timeout(c)
	actx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()

	method := h.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if h.Body != "" {
		body = strings.NewReader(h.Body)
	}
	target := strings.TrimRight(baseURL, "/") + h.Path
	req, err := http.NewRequestWithContext(actx, method, target, body)
	if err != nil {
		return fmt.Sprintf("bad request %s %s: %v", method, target, err)
	}
	for k, v := range h.Headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}

	start := r.now()
	res, err := r.client.Do(req)
	if err != nil {
		if ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
			return fmt.Sprintf("no response within %s", config.Duration(limit))
		}
		return fmt.Sprintf("request failed: %v", err)
	}
	// A response body's Close error says nothing about the check.
	defer func() { _ = res.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(res.Body, maxBody+1))
	latency := r.now().Sub(start)
	if err != nil {
		if ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
			return fmt.Sprintf("response body not complete within %s", config.Duration(limit))
		}
		return fmt.Sprintf("read response body: %v", err)
	}
	truncated := len(data) > maxBody

	want := h.Expect
	var fails []string
	if res.StatusCode != want.Status {
		fails = append(fails, fmt.Sprintf("status %d, want %d", res.StatusCode, want.Status))
	}
	fails = append(fails, checkHeaders(res.Header, want.Headers)...)
	if truncated && (len(want.JSON) > 0 || want.BodyContains != "" || want.BodyRegex != "") {
		fails = append(fails, "response body over the 1 MiB limit; its content was not checked")
	} else {
		fails = append(fails, checkJSON(data, want.JSON)...)
		if want.BodyContains != "" && !strings.Contains(string(data), want.BodyContains) {
			fails = append(fails, fmt.Sprintf("body does not contain %q", want.BodyContains))
		}
		if want.BodyRegex != "" {
			switch re, err := r.regexps[i], r.regexErrs[i]; {
			case err != nil:
				fails = append(fails, fmt.Sprintf("invalid body_regex: %v", err))
			case !re.Match(data):
				fails = append(fails, fmt.Sprintf("body does not match /%s/", want.BodyRegex))
			}
		}
	}
	if maxLat := h.MaxLatency.D(); maxLat > 0 && latency > maxLat {
		fails = append(fails, fmt.Sprintf("latency %s over max %s", roundLatency(latency), h.MaxLatency))
	}
	return strings.Join(fails, "; ")
}

// checkHeaders asserts each expected header, in name order. A value
// matches when one of the header's values equals it; a Content-Type
// without parameters matches on the media type alone (application/json
// matches application/json; charset=utf-8).
func checkHeaders(got http.Header, want map[string]string) []string {
	names := make([]string, 0, len(want))
	for k := range want {
		names = append(names, k)
	}
	slices.Sort(names)
	var fails []string
	for _, name := range names {
		w := strings.TrimSpace(want[name])
		vals := got.Values(name)
		if len(vals) == 0 {
			fails = append(fails, fmt.Sprintf("header %s missing, want %q", name, w))
			continue
		}
		if !slices.ContainsFunc(vals, func(v string) bool { return headerMatches(name, v, w) }) {
			fails = append(fails, fmt.Sprintf("header %s = %q, want %q", name, strings.Join(vals, ", "), w))
		}
	}
	return fails
}

func headerMatches(name, got, want string) bool {
	got = strings.TrimSpace(got)
	if got == want {
		return true
	}
	if strings.EqualFold(name, "Content-Type") && !strings.Contains(want, ";") {
		mt, _, err := mime.ParseMediaType(got)
		return err == nil && strings.EqualFold(mt, want)
	}
	return false
}

// roundLatency keeps latencies readable: 812ms, 1.2s, 350µs.
func roundLatency(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(time.Millisecond).String()
	default:
		return d.Round(time.Microsecond).String()
	}
}
