package verify

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// Result is the outcome of one check.
type Result struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Passed bool   `json:"passed"`
	// Duration is the time the check took, every attempt included.
	Duration time.Duration `json:"duration_ns"`
	// Reason says why the check failed; empty when it passed.
	Reason string `json:"reason,omitempty"`
	// Details are notes a passing check keeps, such as the compatible
	// differences from the live slot's tools or a warned breaking change.
	Details string `json:"details,omitempty"`
	// Artifacts are files the check saved, such as a browser screenshot.
	Artifacts []string `json:"artifacts,omitempty"`
}

// Report is the outcome of a run. Slot and Version come from Options.
type Report struct {
	Slot    slot.Slot `json:"slot,omitempty"`
	Version string    `json:"version,omitempty"`
	Results []Result  `json:"results"`
	// Passed is true when every result passed (and so for no checks).
	Passed bool `json:"passed"`
}

// Options says where a run goes and what it checks.
type Options struct {
	// BaseURL reaches the slot under check: the preview listener for the
	// idle slot, the production listener for the live one (scheme, host,
	// optionally a path prefix).
	BaseURL string
	// LiveURL reaches the live slot, for compare_with_live. Empty when
	// no release is live or when the slot under check is the live one:
	// the comparison is then skipped and said so in the result's details.
	LiveURL string
	// LiveClient sends the requests to LiveURL; nil uses a plain client
	// (the Runner's client may add the preview header, which would reach
	// the idle slot instead).
	LiveClient *http.Client
	// Slot and Version name the release under check (green, v2). They go
	// into the Report and into a command's BLUEGREEN_SLOT and
	// BLUEGREEN_VERSION.
	Slot    slot.Slot
	Version string
	// ArtifactsDir is where a failing browser check saves its screenshot;
	// empty saves none.
	ArtifactsDir string
	// Dir is the working directory of command checks; empty is the
	// current one.
	Dir string
	// BrowserHeaders are sent by the browser with every request (the
	// preview header when there is no preview listener).
	BrowserHeaders map[string]string
	// Chromium is the browser's executable; empty looks up chromium,
	// chromium-browser, google-chrome on PATH.
	Chromium string
}

// attempt is the outcome of one try of a check.
type attempt struct {
	reason    string // why it failed; "" when it passed
	details   string
	artifacts []string
}

func failed(format string, args ...any) attempt { return attempt{reason: fmt.Sprintf(format, args...)} }

// maxBody is how much of a response body a check reads.
const maxBody = 1 << 20

// Runner runs a fixed list of checks. It is safe for concurrent use.
type Runner struct {
	checks     []config.Check
	client     *http.Client
	log        *slog.Logger
	regexps    []*regexp.Regexp // body_regex per check, nil when none
	regexErrs  []error          // a body_regex that does not compile
	retryDelay time.Duration
	now        func() time.Time
}

// NewRunner returns a Runner for checks. A nil client gets one that does
// not follow redirects (so a check can assert a 302); a client passed in
// is used as it is. A nil logger discards.
func NewRunner(checks []config.Check, client *http.Client, logger *slog.Logger) *Runner {
	if client == nil {
		client = &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Runner{
		checks:     append([]config.Check(nil), checks...),
		client:     client,
		log:        logger,
		regexps:    make([]*regexp.Regexp, len(checks)),
		regexErrs:  make([]error, len(checks)),
		retryDelay: 500 * time.Millisecond,
		now:        time.Now,
	}
	for i, c := range checks {
		if c.HTTP != nil && c.HTTP.Expect.BodyRegex != "" {
			r.regexps[i], r.regexErrs[i] = regexp.Compile(c.HTTP.Expect.BodyRegex)
		}
	}
	return r
}

// Select returns the checks that run against slot: those for that slot and
// those for both.
func Select(checks []config.Check, slot config.CheckSlot) []config.Check {
	var out []config.Check
	for _, c := range checks {
		if c.Slot == slot || c.Slot == config.SlotBoth {
			out = append(out, c)
		}
	}
	return out
}

// Run runs the checks one after another against opts.BaseURL and reports
// each. With only set, it runs just the check of that name; a name that
// matches none is a failed result.
func (r *Runner) Run(ctx context.Context, opts Options, only string) Report {
	rep := Report{Slot: opts.Slot, Version: opts.Version, Results: []Result{}, Passed: true}
	found := false
	for i := range r.checks {
		c := &r.checks[i]
		if only != "" && c.Name != only {
			continue
		}
		found = true
		res := r.runOne(ctx, opts, i)
		rep.Results = append(rep.Results, res)
		rep.Passed = rep.Passed && res.Passed
	}
	if only != "" && !found {
		rep.Results = append(rep.Results, Result{Name: only, Reason: fmt.Sprintf("no check named %q (have: %s)", only, r.names())})
		rep.Passed = false
	}
	return rep
}

func (r *Runner) names() string {
	n := make([]string, len(r.checks))
	for i, c := range r.checks {
		n[i] = c.Name
	}
	return strings.Join(n, ", ")
}

// runOne runs check i with its retries and logs the outcome.
func (r *Runner) runOne(ctx context.Context, opts Options, i int) Result {
	c := &r.checks[i]
	kind := c.Kind()
	res := Result{Name: c.Name, Kind: string(kind)}
	start := r.now()
	var a attempt
	switch kind {
	case config.KindHTTP:
		a = r.retry(ctx, c, func(ctx context.Context) attempt { return attempt{reason: r.httpOnce(ctx, opts.BaseURL, i)} })
	case config.KindMCP:
		a = r.retry(ctx, c, func(ctx context.Context) attempt { return r.mcpOnce(ctx, opts, c) })
	case config.KindBrowser:
		a = r.retry(ctx, c, func(ctx context.Context) attempt { return r.browserOnce(ctx, opts, i) })
	case config.KindCommand:
		a = r.retry(ctx, c, func(ctx context.Context) attempt { return r.commandOnce(ctx, opts, c) })
	case "":
		res.Kind = "none"
		a.reason = "check has no kind, or several: give it exactly one of http, mcp, browser or command"
	}
	res.Reason, res.Details, res.Artifacts = a.reason, a.details, a.artifacts
	res.Duration = r.now().Sub(start)
	res.Passed = res.Reason == ""
	if res.Passed {
		r.log.Info("check passed", "check", res.Name, "kind", res.Kind, "duration", res.Duration)
	} else {
		r.log.Info("check failed", "check", res.Name, "kind", res.Kind, "duration", res.Duration, "reason", res.Reason)
	}
	return res
}

// retry runs once up to 1+Retries times, until it passes, and returns the
// last attempt. Artifacts of every attempt are kept.
func (r *Runner) retry(ctx context.Context, c *config.Check, once func(context.Context) attempt) attempt {
	attempts := max(1, 1+c.Retries)
	var artifacts []string
	for n := 1; ; n++ {
		a := once(ctx)
		artifacts = append(artifacts, a.artifacts...)
		a.artifacts = artifacts
		if a.reason == "" {
			return a
		}
		if n >= attempts {
			if attempts > 1 {
				a.reason += fmt.Sprintf(" (after %d attempts)", attempts)
			}
			return a
		}
		r.log.Debug("check attempt failed", "check", c.Name, "attempt", n, "reason", a.reason)
		t := time.NewTimer(r.retryDelay)
		select {
		case <-ctx.Done():
			t.Stop()
			a.reason = fmt.Sprintf("%s (stopped after %d of %d attempts: %v)", a.reason, n, attempts, context.Cause(ctx))
			return a
		case <-t.C:
		}
	}
}

// timeout is the check's per-attempt timeout, 10s when unset.
func timeout(c *config.Check) time.Duration {
	if d := c.Timeout.D(); d > 0 {
		return d
	}
	return 10 * time.Second
}
