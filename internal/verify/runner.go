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
}

// Report is the outcome of a run. Run leaves Slot and Version empty; the
// caller, who knows which slot and release the base URL reached, fills
// them in.
type Report struct {
	Slot    string   `json:"slot,omitempty"`
	Version string   `json:"version,omitempty"`
	Results []Result `json:"results"`
	// Passed is true when every result passed (and so for no checks).
	Passed bool `json:"passed"`
}

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

// Run runs the checks one after another against baseURL (scheme and host,
// optionally a path prefix) and reports each. With only set, it runs just
// the check of that name; a name that matches none is a failed result.
func (r *Runner) Run(ctx context.Context, baseURL string, only string) Report {
	rep := Report{Results: []Result{}, Passed: true}
	found := false
	for i := range r.checks {
		c := &r.checks[i]
		if only != "" && c.Name != only {
			continue
		}
		found = true
		res := r.runOne(ctx, baseURL, i)
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
func (r *Runner) runOne(ctx context.Context, baseURL string, i int) Result {
	c := &r.checks[i]
	kind := c.Kind()
	res := Result{Name: c.Name, Kind: string(kind)}
	start := r.now()
	switch kind {
	case config.KindHTTP:
		res.Reason = r.retry(ctx, c, func(ctx context.Context) string { return r.httpOnce(ctx, baseURL, i) })
	case config.KindMCP, config.KindBrowser, config.KindCommand:
		res.Reason = fmt.Sprintf("%s checks are not supported yet", kind)
	case "":
		res.Kind = "none"
		res.Reason = "check has no kind, or several: give it exactly one of http, mcp, browser or command"
	}
	res.Duration = r.now().Sub(start)
	res.Passed = res.Reason == ""
	if res.Passed {
		r.log.Info("check passed", "check", res.Name, "kind", res.Kind, "duration", res.Duration)
	} else {
		r.log.Info("check failed", "check", res.Name, "kind", res.Kind, "duration", res.Duration, "reason", res.Reason)
	}
	return res
}

// retry runs once up to 1+Retries times, until it passes (returns ""), and
// returns the last failure.
func (r *Runner) retry(ctx context.Context, c *config.Check, once func(context.Context) string) string {
	attempts := max(1, 1+c.Retries)
	for a := 1; ; a++ {
		reason := once(ctx)
		if reason == "" {
			return ""
		}
		if a >= attempts {
			if attempts > 1 {
				reason += fmt.Sprintf(" (after %d attempts)", attempts)
			}
			return reason
		}
		r.log.Debug("check attempt failed", "check", c.Name, "attempt", a, "reason", reason)
		t := time.NewTimer(r.retryDelay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Sprintf("%s (stopped after %d of %d attempts: %v)", reason, a, attempts, context.Cause(ctx))
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
