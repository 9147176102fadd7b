package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/analysis"
	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// Meter measures what each slot answered, cumulatively since the router
// started: users' requests and synthetic ones apart, in all and per rule
// filter (the router implements it through an adapter).
type Meter interface {
	Measure(s slot.Slot) analysis.Measurement
}

// Synthetic sends analysis.synthetic's requests to the slots of a
// deployment under analysis (package synthetic implements it).
type Synthetic interface {
	// Target sends synthetic traffic to slots from now on; none stops it.
	// It does not block.
	Target(slots ...slot.Slot)
}

// Providers asks external systems (Prometheus queries, webhooks) about an
// analysis window; package analysis/provider implements it.
type Providers interface {
	Judge(ctx context.Context, w analysis.Window) []analysis.ProviderResult
}

// analysisRecord is the newest analysis window of a deployment, kept in
// its details: the verdict with all its numbers, where it was taken, and
// the live slot's values to compare with while baking.
type analysisRecord struct {
	Phase   Phase            `json:"phase"`
	Step    int              `json:"step"`
	At      time.Time        `json:"at"`
	Verdict analysis.Verdict `json:"verdict"`
	// Windows counts the windows analysed in this deployment, Failures
	// those that failed, Consecutive the failures since the last window
	// that did not fail.
	Windows     int `json:"windows"`
	Failures    int `json:"failures"`
	Consecutive int `json:"consecutive_failures"`
	// Baseline is the live slot in the newest window where it had enough
	// requests; baking compares with it. FilteredBaselines are the same
	// for the requests each rule filter selects, by the filter's text.
	Baseline          *analysis.Summary           `json:"baseline,omitempty"`
	FilteredBaselines map[string]analysis.Summary `json:"filtered_baselines,omitempty"`
}

// window is the analysis window in progress: snapshots of both slots at
// its start. It lives in memory only; a restart or any transition starts
// a new one.
type window struct {
	id    int64
	phase Phase
	step  int
	start time.Time
	end   time.Time
	new   analysis.Measurement
	live  analysis.Measurement
}

// analysing reports whether deployment d is judged by analysis: a
// configured meter and rules, traffic to compare against (not a first
// release, not a rollback), and not promoted by a person.
func (c *Controller) analysing(d *store.Deployment, x details) bool {
	return c.meter != nil && c.analysis != nil && (len(c.analysis.Rules) > 0 || c.providers != nil) &&
		d.FromVersion != "" && d.Kind != KindRollback && !x.Promoted
}

// passed reports whether the newest window of d's current step passed.
func passed(d *store.Deployment, x details) bool {
	a := x.Analysis
	return a != nil && a.Phase == Phase(d.Phase) && a.Step == d.Step && a.Verdict.Result == analysis.Pass
}

// analyse runs the analysis of d in shifting or baking. It starts a window
// when none runs for this step; when the window is over it judges it and
// starts the next. It returns when the window ends, and moved=true when it
// took d out of its phase (rolling_back, paused).
func (c *Controller) analyse(ctx context.Context, f facts, d *store.Deployment, x details) (next time.Time, moved bool, err error) {
	a := c.analysis
	newSlot, liveSlot := d.Slot, d.Slot.Other()
	w := c.win.Load()
	if w == nil || w.id != d.ID || w.phase != Phase(d.Phase) || w.step != d.Step {
		w = c.startWindow(d, f.now)
		return w.end, false, nil
	}
	if f.now.Before(w.end) {
		return w.end, false, nil
	}
	// The window as configured, unless the loop came back much later (a
	// restart, a slow pass): then as long as it really was.
	length := f.now.Sub(w.start)
	if length-a.Interval.D() < time.Second {
		length = a.Interval.D()
	} else {
		length = length.Round(time.Second)
	}
	nm, lm := c.meter.Measure(newSlot).Sub(w.new), c.meter.Measure(liveSlot).Sub(w.live)
	in := analysis.Input{
		Window: length, MinRequests: a.MinRequests, Rules: a.Rules,
		NewSlot: newSlot, LiveSlot: liveSlot,
		New: nm.User, Live: lm.User,
		NewFiltered: nm.UserFiltered, LiveFiltered: lm.UserFiltered,
	}
	if c.synthetic != nil {
		in.Synthetic = &analysis.Traffic{New: nm.Synthetic, Live: lm.Synthetic,
			NewFiltered: nm.SyntheticFiltered, LiveFiltered: lm.SyntheticFiltered}
	}
	switch {
	case x.Analysis != nil:
		in.Baseline, in.FilteredBaselines = x.Analysis.Baseline, x.Analysis.FilteredBaselines
	case x.LiveBefore != nil:
		in.Baseline, in.FilteredBaselines = x.LiveBefore.Summary, x.LiveBefore.Filtered
	}
	v := analysis.Evaluate(in)
	if c.providers != nil {
		v = analysis.Combine(v, c.providers.Judge(ctx, analysis.Window{
			App: c.app, DeploymentID: d.ID, NewSlot: newSlot, NewVersion: d.Version,
			LiveSlot: liveSlot, LiveVersion: d.FromVersion, Length: length,
		}))
		if ctx.Err() != nil {
			return time.Time{}, false, fmt.Errorf("deployment %d of %s: ask analysis providers: %w", d.ID, c.app, ctx.Err())
		}
	}
	c.startWindow(d, f.now)

	rec := &analysisRecord{Phase: Phase(d.Phase), Step: d.Step, At: f.now, Verdict: v,
		Baseline: in.Baseline, FilteredBaselines: filteredBaselines(in)}
	if x.Analysis != nil {
		rec.Windows, rec.Failures, rec.Consecutive = x.Analysis.Windows, x.Analysis.Failures, x.Analysis.Consecutive
	}
	rec.Windows++
	if v.Result == analysis.Fail {
		rec.Failures++
		rec.Consecutive++
	} else {
		rec.Consecutive = 0
	}
	if v.LiveFrom == "window" {
		rec.Baseline = v.Live
	}
	attrs := []any{logDeploymentID, d.ID, logPhase, d.Phase, logSlot, d.Slot, "reason", v.Reason, "requests", v.New.Requests}
	if v.Synthetic != nil {
		attrs = append(attrs, "synthetic_requests", v.Synthetic.New.Requests)
	}
	c.log.Info("analysis "+string(v.Result), attrs...)

	result := v.Result
	if result == analysis.Inconclusive && a.OnInconclusive == config.InconclusiveFail {
		result = analysis.Fail
	}
	if v.Result == analysis.Fail && tolerated(a, rec) {
		// Within failure_limit: the step waits for a window that passes.
		c.log.Info("analysis failure tolerated", logDeploymentID, d.ID, "failures", rec.Failures,
			"failure_limit", a.FailureLimit, "consecutive", rec.Consecutive)
		return f.now.Add(a.Interval.D()), false, c.keepAnalysis(ctx, d, rec)
	}
	switch result {
	case analysis.Pass:
		return f.now.Add(a.Interval.D()), false, c.keepAnalysis(ctx, d, rec)
	case analysis.Fail:
		reason := "analysis failed: " + v.Reason
		if rec.Failures > 1 {
			reason = fmt.Sprintf("analysis failed (%d failed windows: %s): %s", rec.Failures, limits(a), v.Reason)
		}
		if v.Result == analysis.Inconclusive {
			reason = "analysis inconclusive (on_inconclusive: fail): " + v.Reason
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return time.Time{}, false, fmt.Errorf("deployment %d of %s: encode verdict: %w", d.ID, c.app, err)
		}
		err = c.transition(ctx, d, PhaseRollingBack, reason+fmt.Sprintf("; traffic back on %s (%s)", liveSlot, d.FromVersion),
			map[string]any{"analysis": v},
			func(n *store.Deployment, nx *details) {
				n.Paused, n.Deadline, nx.Remaining, nx.Failure, nx.Analysis = "", time.Time{}, "", raw, rec
			})
		return f.now, true, err
	case analysis.Inconclusive:
		switch a.OnInconclusive {
		case config.InconclusivePause:
			p := Phase(d.Phase)
			left := max(0, d.Deadline.Sub(f.now))
			err := c.transition(ctx, d, PhasePaused,
				fmt.Sprintf("analysis inconclusive: %s; paused in %s with %s left (resume, promote or abort)", v.Reason, p, left.Round(time.Second)),
				map[string]any{"analysis": v, "remaining_seconds": left.Seconds()},
				func(n *store.Deployment, nx *details) {
					n.Paused, n.Deadline, nx.Remaining, nx.Analysis = string(p), time.Time{}, left.String(), rec
				})
			return time.Time{}, true, err
		case config.InconclusiveExtend, config.InconclusiveFail:
			// extend: the step waits for a window that passes.
			return f.now.Add(a.Interval.D()), false, c.keepAnalysis(ctx, d, rec)
		}
	}
	return time.Time{}, false, fmt.Errorf("deployment %d of %s: unknown analysis result %q", d.ID, c.app, v.Result)
}

// filteredBaselines are the live slot's summaries of the requests each
// rule filter selects, from this window where it had enough, else from
// the earlier baseline.
func filteredBaselines(in analysis.Input) map[string]analysis.Summary {
	var out map[string]analysis.Summary
	for f, lc := range in.LiveFiltered {
		key := f.String()
		s, ok := in.FilteredBaselines[key]
		if lc.Requests >= uint64(in.MinRequests) {
			s, ok = analysis.Summarize(lc, in.Window), true
		}
		if ok {
			if out == nil {
				out = map[string]analysis.Summary{}
			}
			out[key] = s
		}
	}
	return out
}

// aimSynthetic points synthetic traffic at the slots of d while analysis
// judges it (shifting and baking), and nowhere otherwise (d nil: no
// active deployment). It is level-triggered: every pass says where
// traffic should go now.
func (c *Controller) aimSynthetic(d *store.Deployment) {
	if c.synthetic == nil {
		return
	}
	if d != nil && d.Active {
		if p := Phase(d.Phase); p == PhaseShifting || p == PhaseBaking {
			if x, err := readDetails(*d); err == nil && c.analysing(d, x) {
				c.synthetic.Target(d.Slot, d.Slot.Other())
				return
			}
		}
	}
	c.synthetic.Target()
}

// startWindow starts an analysis window for d's current step at now.
func (c *Controller) startWindow(d *store.Deployment, now time.Time) *window {
	w := &window{
		id: d.ID, phase: Phase(d.Phase), step: d.Step, start: now, end: now.Add(c.analysis.Interval.D()),
		new: c.meter.Measure(d.Slot), live: c.meter.Measure(d.Slot.Other()),
	}
	c.win.Store(w)
	return w
}

// keepAnalysis stores rec in d's details without a phase change.
func (c *Controller) keepAnalysis(ctx context.Context, d *store.Deployment, rec *analysisRecord) error {
	x, err := readDetails(*d)
	if err != nil {
		return err
	}
	x.Analysis = rec
	next := *d
	if err := x.write(&next); err != nil {
		return err
	}
	return c.commit(ctx, d, next, store.Event{})
}

// analysisData is what a transition that ends an analysed phase adds to its
// event: the newest verdict.
func analysisData(x details) map[string]any {
	if x.Analysis == nil {
		return nil
	}
	return map[string]any{"analysis": x.Analysis.Verdict}
}

// tolerated reports whether the failed windows counted in rec are still
// within failure_limit and consecutive_failures.
func tolerated(a *config.Analysis, rec *analysisRecord) bool {
	if rec.Failures > a.FailureLimit {
		return false
	}
	return a.ConsecutiveFailures == 0 || rec.Consecutive < a.ConsecutiveFailures
}

// limits describes the failure limits for a reason.
func limits(a *config.Analysis) string {
	s := fmt.Sprintf("failure_limit %d", a.FailureLimit)
	if a.ConsecutiveFailures > 0 {
		s += fmt.Sprintf(", consecutive_failures %d", a.ConsecutiveFailures)
	}
	return s
}
