package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// maxProbeBody bounds how much of a probe's response body is read; the rest
// is dropped with the connection.
const maxProbeBody = 64 << 10

// Probe requests http://addr+path once and returns nil when the instance
// answers 2xx or 3xx. Redirects are not followed. The body is read (at most
// 64 KiB) and closed. The caller bounds the probe with ctx.
func Probe(ctx context.Context, client *http.Client, addr, path string) error {
	if client == nil {
		client = http.DefaultClient
	}
	noRedirect := *client
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	url := "http://" + addr + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("probe %s: %w", url, err)
	}
	req.Header.Set("User-Agent", "bluegreen-health")
	resp, err := noRedirect.Do(req)
	if err != nil {
		return fmt.Errorf("probe %s: %w", url, err)
	}
	_, readErr := io.Copy(io.Discard, io.LimitReader(resp.Body, maxProbeBody))
	closeErr := resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("probe %s: status %d", url, resp.StatusCode)
	}
	if err := errors.Join(readErr, closeErr); err != nil {
		return fmt.Errorf("probe %s: read body: %w", url, err)
	}
	return nil
}

// Loop probes addr immediately and then every opts.Interval, each probe
// bounded by opts.Timeout, and calls report with every result (err is nil
// when ok). It returns when ctx ends; a probe cut short by the end of ctx is
// not reported. report is called from Loop's goroutine, one call at a time.
func Loop(ctx context.Context, opts Options, client *http.Client, addr string, report func(ok bool, err error)) {
	opts = opts.WithDefaults()
	ticker := time.NewTicker(opts.Interval)
	defer ticker.Stop()
	probe := func(ctx context.Context) error { return Probe(ctx, client, addr, opts.Path) }
	loop(ctx, opts.Timeout, ticker.C, probe, report)
}

// loop is Loop with the tick source and the probe injected.
func loop(ctx context.Context, timeout time.Duration, ticks <-chan time.Time, probe func(context.Context) error, report func(ok bool, err error)) {
	for {
		pctx, cancel := context.WithTimeout(ctx, timeout)
		err := probe(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		report(err == nil, err)
		select {
		case <-ctx.Done():
			return
		case <-ticks:
		}
	}
}
