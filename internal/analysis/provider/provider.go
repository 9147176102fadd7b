package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/analysis"
	"github.com/bluegreen-dev/bluegreen/internal/config"
)

// MaxResponse is the most a provider's answer may hold; a longer one is
// inconclusive.
const MaxResponse = 1 << 20

// judge asks one provider about a window.
type judge interface {
	judge(ctx context.Context, w analysis.Window) analysis.ProviderResult
}

// Set is the configured providers.
type Set struct {
	providers []named
}

type named struct {
	name    string
	kind    config.ProviderKind
	timeout time.Duration
	j       judge
}

// New builds the providers of analysis.providers. client sends their
// requests (nil: a client without a timeout of its own; each request is
// bounded by its provider's timeout).
func New(ps []config.Provider, client *http.Client) (*Set, error) {
	if client == nil {
		client = &http.Client{}
	}
	s := &Set{}
	for _, p := range ps {
		n := named{name: p.Name, kind: p.Kind(), timeout: p.Timeout.D()}
		if n.timeout <= 0 {
			return nil, fmt.Errorf("provider %s: timeout must be above 0", p.Name)
		}
		switch n.kind {
		case config.ProviderPrometheus:
			n.j = &prometheus{client: client, cfg: *p.Prometheus}
		case config.ProviderWebhook:
			n.j = &webhook{client: client, cfg: *p.Webhook}
		case config.ProviderCloudWatch:
			n.j = &cloudWatch{cfg: *p.CloudWatch, now: time.Now} // cloudwatch.go
		default:
			return nil, fmt.Errorf("provider %s: set one of prometheus and webhook", p.Name)
		}
		s.providers = append(s.providers, n)
	}
	return s, nil
}

// Len is the number of providers.
func (s *Set) Len() int { return len(s.providers) }

// Judge asks every provider about w at once and returns their answers in
// the configured order.
func (s *Set) Judge(ctx context.Context, w analysis.Window) []analysis.ProviderResult {
	out := make([]analysis.ProviderResult, len(s.providers))
	var wg sync.WaitGroup
	for i, p := range s.providers {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, p.timeout)
			defer cancel()
			r := p.j.judge(cctx, w)
			r.Name, r.Kind = p.name, string(p.kind)
			if r.Result != analysis.Pass && errors.Is(cctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
				r.Result = analysis.Inconclusive
				r.Reason = fmt.Sprintf("no answer within %s: %s", p.timeout, r.Reason)
			}
			out[i] = r
		})
	}
	wg.Wait()
	return out
}

// expand replaces the placeholders in s for window w.
func expand(s string, w analysis.Window) string {
	return strings.NewReplacer(
		"{{slot}}", string(w.NewSlot),
		"{{version}}", w.NewVersion,
		"{{live_slot}}", string(w.LiveSlot),
		"{{live_version}}", w.LiveVersion,
		"{{app}}", w.App,
		"{{window}}", promDuration(w.Length),
	).Replace(s)
}

// promDuration writes d the way PromQL ranges take it: 30s, 90s.
func promDuration(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%dms", max(1, d.Milliseconds()))
	}
	return fmt.Sprintf("%ds", int64(d.Round(time.Second)/time.Second))
}

// readBody reads at most MaxResponse bytes of resp's body and closes it.
func readBody(resp *http.Response) (b []byte, err error) {
	defer func() {
		if cerr := resp.Body.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close body: %w", cerr)
		}
	}()
	b, err = io.ReadAll(io.LimitReader(resp.Body, MaxResponse+1))
	if err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	if len(b) > MaxResponse {
		return nil, fmt.Errorf("answer longer than %d bytes", MaxResponse)
	}
	return b, nil
}

// snippet is the start of an unreadable answer, for a reason.
func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return fmt.Sprintf("%q", s)
}

// host is u without its path and query, which may hold a secret.
func host(req *http.Request) string { return req.URL.Scheme + "://" + req.URL.Host }

func inconclusive(format string, args ...any) analysis.ProviderResult {
	return analysis.ProviderResult{Result: analysis.Inconclusive, Reason: fmt.Sprintf(format, args...)}
}

// unwrapURL drops the *url.Error wrapper, whose text repeats the whole
// URL (which may hold a secret).
func unwrapURL(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}
