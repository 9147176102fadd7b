package analysis

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// The thresholds of compare: statistical: the new slot fails when it is
// slower with this confidence (one-sided p below 1−StatConfidence), by at
// least this effect (rank-biserial correlation), and by at least
// LatencyNoiseFloor at the rule's percentile.
const (
	StatConfidence = 0.99
	StatMinEffect  = 0.2
)

// LatencyNoiseFloor is the smallest latency difference a max_ratio_to_live
// rule acts on: below it, two fast slots differ by noise (0.4ms against
// 0.9ms is a ratio of 2, and means nothing).
const LatencyNoiseFloor = 5 * time.Millisecond

// Input is one window of both slots and how to judge it.
type Input struct {
	Window      time.Duration
	MinRequests int
	Rules       []config.Rule
	NewSlot     slot.Slot
	LiveSlot    slot.Slot
	// New and Live are the users' requests on each slot over the window.
	New  Counts
	Live Counts
	// NewFiltered and LiveFiltered are the users' requests each rule
	// filter selects (config.Rule.Filter); a rule with a filter is judged
	// on those. A filter missing from the map counts nothing.
	NewFiltered  map[config.Filter]Counts
	LiveFiltered map[config.Filter]Counts
	// Baseline, if set, stands in for Live when the live slot had fewer
	// than MinRequests requests in the window (while baking it gets none):
	// the live slot's summary from an earlier window.
	Baseline *Summary
	// FilteredBaselines are the same for filtered rules, by the filter's
	// String.
	FilteredBaselines map[string]Summary
	// Synthetic is the synthetic traffic of both slots over the window
	// (analysis.synthetic); nil when it is off.
	Synthetic *Traffic
}

// Traffic is one kind of requests of both slots over a window: all of
// them and those each rule filter selects.
type Traffic struct {
	New, Live                 Counts
	NewFiltered, LiveFiltered map[config.Filter]Counts
}

// population is one kind of traffic as Evaluate judges it.
type population struct {
	synthetic bool
	// tagged: synthetic traffic is on, so users' requests are named as
	// such in reasons.
	tagged    bool
	traffic   Traffic
	baseline  *Summary
	baselines map[string]Summary
}

// noun names the population's requests in reasons: "requests", "user
// requests", "synthetic requests".
func (p population) noun() string {
	switch {
	case p.synthetic:
		return "synthetic requests"
	case p.tagged:
		return "user requests"
	}
	return "requests"
}

// Evaluate applies the rules to the window. Fail wins over inconclusive,
// inconclusive over pass:
//
//   - a rule fails when the new slot's value is above max, below min, or
//     above max_ratio_to_live times the live slot's value — even on fewer
//     than MinRequests requests (12 failures in 12 requests fail);
//   - a rule that did not fail is inconclusive when the new slot had fewer
//     than MinRequests requests of those it measures (its filter's), or
//     when it compares with live and the live slot had too few;
//   - the window passes when every rule passed.
//
// With synthetic traffic (Input.Synthetic) the users' requests and the
// synthetic ones are judged apart, each slot's against the other's of the
// same kind (mixing them would compare different mixes: the new slot gets
// a larger share of synthetic requests while it has little user traffic).
// A rule that fails on either fails the window; a rule passes when it
// passed on at least one of them. The verdict's numbers are the users'
// (New, Live, Rules); Synthetic has the synthetic requests' own.
//
// Ratios ignore noise: for error_rate the live rate counts as at least one
// error in the new slot's number of requests (so one 5xx in 100 requests
// against none is a ratio of 1, not infinity); for latencies a difference
// under LatencyNoiseFloor never fails.
func Evaluate(in Input) Verdict {
	v := Verdict{
		WindowSeconds: in.Window.Seconds(),
		MinRequests:   in.MinRequests,
		NewSlot:       in.NewSlot,
		LiveSlot:      in.LiveSlot,
		New:           Summarize(in.New, in.Window),
	}
	live := Summarize(in.Live, in.Window)
	switch {
	case live.Requests >= uint64(in.MinRequests):
		v.Live, v.LiveFrom = &live, "window"
	case in.Baseline != nil:
		v.Live, v.LiveFrom = in.Baseline, "baseline"
	default:
		v.Live = &live // shown, too small to compare with
	}

	users := population{
		tagged:    in.Synthetic != nil,
		traffic:   Traffic{New: in.New, Live: in.Live, NewFiltered: in.NewFiltered, LiveFiltered: in.LiveFiltered},
		baseline:  in.Baseline,
		baselines: in.FilteredBaselines,
	}
	v.Rules = users.evaluate(in)
	var synth []RuleResult
	if in.Synthetic != nil {
		sp := population{synthetic: true, traffic: *in.Synthetic}
		synth = sp.evaluate(in)
		v.Synthetic = &SyntheticVerdict{
			New:   Summarize(in.Synthetic.New, in.Window),
			Live:  Summarize(in.Synthetic.Live, in.Window),
			Rules: synth,
		}
	}
	decide(&v, in, synth)
	return v
}

// decide sets the verdict's result, reason and deciding rule from the rule
// results of the users' requests (v.Rules) and of the synthetic ones
// (synth, nil without synthetic traffic).
func decide(v *Verdict, in Input, synth []RuleResult) {
	on := func(kind string) {
		if v.Synthetic != nil {
			v.DecidedOn = kind
		}
	}
	for _, rr := range v.Rules {
		if rr.Result == Fail {
			v.Result, v.DecidedBy = Fail, rr.Rule
			v.Reason = fmt.Sprintf("%s in %s: %s", rr.Rule, window(in.Window), rr.Reason)
			if v.Synthetic != nil {
				v.Reason = fmt.Sprintf("%s in %s, on user requests (%s): %s", rr.Rule, window(in.Window), samples(*v, in), rr.Reason)
			}
			on("user")
			return
		}
	}
	for _, rr := range synth {
		if rr.Result == Fail {
			v.Result, v.DecidedBy = Fail, rr.Rule
			v.Reason = fmt.Sprintf("%s in %s, on synthetic requests (%s): %s", rr.Rule, window(in.Window), samples(*v, in), rr.Reason)
			on("synthetic")
			return
		}
	}
	need := uint64(in.MinRequests)
	if v.New.Requests < need && (v.Synthetic == nil || v.Synthetic.New.Requests < need) {
		v.Result, v.DecidedBy = Inconclusive, "min_requests"
		if v.Synthetic == nil {
			v.Reason = fmt.Sprintf("only %d requests on %s in %s, need %d", v.New.Requests, in.NewSlot, window(in.Window), in.MinRequests)
		} else {
			v.Reason = fmt.Sprintf("only %s in %s, need %d of either", samples(*v, in), window(in.Window), in.MinRequests)
		}
		return
	}
	for i, rr := range v.Rules {
		if rr.Result == Pass || (synth != nil && synth[i].Result == Pass) {
			continue
		}
		v.Result, v.DecidedBy = Inconclusive, rr.Rule
		if synth == nil {
			v.Reason = fmt.Sprintf("%s in %s: %s", rr.Rule, window(in.Window), rr.Reason)
		} else {
			v.Reason = fmt.Sprintf("%s in %s: users: %s; synthetic: %s", rr.Rule, window(in.Window), rr.Reason, synth[i].Reason)
		}
		return
	}
	v.Result = Pass
	rules := fmt.Sprintf("%d rules", len(v.Rules))
	if len(v.Rules) == 1 {
		rules = "1 rule"
	}
	if v.Synthetic == nil {
		v.Reason = fmt.Sprintf("%s passed on %d requests on %s in %s", rules, v.New.Requests, in.NewSlot, window(in.Window))
		return
	}
	v.Reason = fmt.Sprintf("%s passed on %s in %s", rules, samples(*v, in), window(in.Window))
}

// samples writes the sample sizes of the new slot with synthetic traffic:
// "12 user and 60 synthetic requests on green".
func samples(v Verdict, in Input) string {
	return fmt.Sprintf("%d user and %d synthetic requests on %s", v.New.Requests, v.Synthetic.New.Requests, in.NewSlot)
}

// evaluate applies every rule to the population's requests.
func (p population) evaluate(in Input) []RuleResult {
	out := make([]RuleResult, 0, len(in.Rules))
	for _, r := range in.Rules {
		out = append(out, p.rule(r, in))
	}
	return out
}

// rule applies r to the requests of the population its filter selects.
func (p population) rule(r config.Rule, in Input) RuleResult {
	f := r.Filter()
	nc, lc, base := p.traffic.New, p.traffic.Live, p.baseline
	if !f.IsZero() {
		nc, lc, base = p.traffic.NewFiltered[f], p.traffic.LiveFiltered[f], nil
		if b, ok := p.baselines[f.String()]; ok {
			base = &b
		}
	}
	ns, ls := Summarize(nc, in.Window), Summarize(lc, in.Window)
	var (
		live     = &ls
		liveFrom string
	)
	switch {
	case ls.Requests >= uint64(in.MinRequests):
		liveFrom = "window"
	case base != nil:
		live, liveFrom = base, "baseline"
	}
	rr := evalRule(r, ns, live, liveFrom != "", nc.Latency, lc.Latency, p, in)
	rr.Requests, rr.LiveRequests, rr.LiveFrom = ns.Requests, live.Requests, liveFrom
	if rr.Result != Fail && ns.Requests < uint64(in.MinRequests) {
		rr.Result = Inconclusive
		rr.Reason = fmt.Sprintf("only %d %s on %s in %s, need %d", ns.Requests, p.selected(f), in.NewSlot, window(in.Window), in.MinRequests)
	}
	return rr
}

// selected names the requests a rule with filter f measures: "requests",
// "synthetic requests matching mcp_tool search".
func (p population) selected(f config.Filter) string {
	if f.IsZero() {
		return p.noun()
	}
	return p.noun() + " matching " + f.String()
}

// evalRule applies one rule to the summaries of the requests it measures:
// ns on the new slot, ls on the live one (usable to compare with when
// liveUsable); nh and lh are their latency histograms.
func evalRule(r config.Rule, ns Summary, ls *Summary, liveUsable bool, nh, lh Histogram, p population, in Input) RuleResult {
	rr := RuleResult{Rule: describeRule(r), Metric: r.Metric, Filter: r.Filter().String(), Result: Pass, MaxRatioToLive: r.MaxRatioToLive}
	if r.Max != nil {
		rr.Max = ptr(r.Max.Value)
	}
	if r.Min != nil {
		rr.Min = ptr(r.Min.Value)
	}
	rr.New = metricOf(ns, r.Metric)
	if ls != nil {
		rr.Live = metricOf(*ls, r.Metric)
	}
	if rr.New == nil {
		rr.Result, rr.Reason = Inconclusive, fmt.Sprintf("no %s measured on %s", p.selected(r.Filter()), in.NewSlot)
		return rr
	}
	nv := *rr.New
	var passed []string
	if rr.Max != nil {
		if nv > *rr.Max {
			rr.Result, rr.Reason = Fail, fmt.Sprintf("%s on %s is %s, above max %s", r.Metric, in.NewSlot, format(r.Metric, nv), format(r.Metric, *rr.Max))
			return rr
		}
		passed = append(passed, fmt.Sprintf("%s ≤ max %s", format(r.Metric, nv), format(r.Metric, *rr.Max)))
	}
	if rr.Min != nil {
		if nv < *rr.Min {
			rr.Result, rr.Reason = Fail, fmt.Sprintf("%s on %s is %s, below min %s", r.Metric, in.NewSlot, format(r.Metric, nv), format(r.Metric, *rr.Min))
			return rr
		}
		passed = append(passed, fmt.Sprintf("%s ≥ min %s", format(r.Metric, nv), format(r.Metric, *rr.Min)))
	}
	if r.MaxRatioToLive > 0 {
		if !liveUsable || rr.Live == nil {
			var n uint64
			if ls != nil {
				n = ls.Requests
			}
			rr.Result = Inconclusive
			rr.Reason = fmt.Sprintf("only %d %s on live slot %s in %s, need %d to compare", n, p.selected(r.Filter()), in.LiveSlot, window(in.Window), in.MinRequests)
			return rr
		}
		lv := *rr.Live
		fails := false
		var ratio float64
		switch r.Metric.Unit() {
		case config.UnitRatio:
			floor := lv
			if ns.Requests > 0 {
				floor = max(lv, 1/float64(ns.Requests))
			}
			ratio = nv / floor
			fails = ratio > r.MaxRatioToLive
		case config.UnitSeconds:
			if lv > 0 {
				ratio = nv / lv
			} else {
				ratio = math.Inf(1)
			}
			fails = ratio > r.MaxRatioToLive && nv-lv >= LatencyNoiseFloor.Seconds()
		}
		if !math.IsInf(ratio, 0) {
			rr.Ratio = ptr(ratio)
		}
		if fails {
			rr.Result = Fail
			rr.Reason = fmt.Sprintf("%s on %s is %s against %s on %s: %.2f× live, max %g×",
				r.Metric, in.NewSlot, format(r.Metric, nv), format(r.Metric, lv), in.LiveSlot, ratio, r.MaxRatioToLive)
			return rr
		}
		passed = append(passed, fmt.Sprintf("%s against %s on %s (%.2f×, max %g×)", format(r.Metric, nv), format(r.Metric, lv), in.LiveSlot, ratio, r.MaxRatioToLive))
	}
	if r.Compare == config.CompareStatistical {
		switch {
		case !liveUsable || rr.Live == nil:
			rr.Result = Inconclusive
			rr.Reason = fmt.Sprintf("only %d latencies of %s on live slot %s in %s, need %d to compare distributions",
				lh.Total(), p.selected(r.Filter()), in.LiveSlot, window(in.Window), in.MinRequests)
			return rr
		case lh.Total() < uint64(in.MinRequests):
			// Baking: the live slot gets no traffic; the distributions were
			// compared while shifting.
			passed = append(passed, "distributions not compared: no live traffic in this window (baking)")
		default:
			mw := MannWhitneyCounts(nh.Counts, lh.Counts)
			rr.MannWhitney = &mw
			slower := 1-mw.PGreater >= StatConfidence && mw.RankBiserial >= StatMinEffect &&
				nv-*rr.Live >= LatencyNoiseFloor.Seconds()
			if slower {
				rr.Result = Fail
				rr.Reason = fmt.Sprintf("latencies on %s are higher than on %s: %.2f%% confidence (p=%.2g), effect %.2f (new slower in %.0f%% of pairs), %s %s against %s",
					in.NewSlot, in.LiveSlot, 100*(1-mw.PGreater), mw.PGreater, mw.RankBiserial, 100*mw.CommonLanguage,
					r.Metric, format(r.Metric, nv), format(r.Metric, *rr.Live))
				return rr
			}
			passed = append(passed, fmt.Sprintf("distribution not slower than %s (p=%.2g, effect %.2f)", in.LiveSlot, mw.PGreater, mw.RankBiserial))
		}
	}
	rr.Reason = strings.Join(passed, "; ")
	return rr
}

// metricOf is m's value in s, nil when not measured.
func metricOf(s Summary, m config.Metric) *float64 {
	switch m {
	case config.MetricErrorRate:
		return s.ErrorRate
	case config.MetricLatencyP50:
		return s.P50
	case config.MetricLatencyP90:
		return s.P90
	case config.MetricLatencyP95:
		return s.P95
	case config.MetricLatencyP99:
		return s.P99
	}
	return nil
}

// describeRule writes r the way it reads in the config.
func describeRule(r config.Rule) string {
	parts := []string{string(r.Metric)}
	if r.Max != nil {
		parts = append(parts, "max "+limitText(r.Metric, *r.Max))
	}
	if r.Min != nil {
		parts = append(parts, "min "+limitText(r.Metric, *r.Min))
	}
	if r.MaxRatioToLive > 0 {
		parts = append(parts, "max_ratio_to_live "+strconv.FormatFloat(r.MaxRatioToLive, 'g', -1, 64))
	}
	if r.Compare != config.CompareNone {
		parts = append(parts, "compare "+string(r.Compare))
	}
	if f := r.Filter(); !f.IsZero() {
		parts = append(parts, f.String())
	}
	return strings.Join(parts, " ")
}

func limitText(m config.Metric, l config.Limit) string {
	if l.Raw != "" {
		return l.Raw
	}
	return format(m, l.Value)
}

// FormatValue writes a value of metric m for people: 1.25% for an
// error rate, 120ms for a latency.
func FormatValue(m config.Metric, v float64) string { return format(m, v) }

// format writes a value of metric m for people: 1.25% or 120ms.
func format(m config.Metric, v float64) string {
	switch m.Unit() {
	case config.UnitRatio:
		return strconv.FormatFloat(math.Round(v*10000)/100, 'f', -1, 64) + "%"
	case config.UnitSeconds:
		d := time.Duration(v * float64(time.Second))
		switch {
		case d >= time.Second:
			return d.Round(time.Millisecond).String()
		case d >= time.Millisecond:
			return d.Round(100 * time.Microsecond).String()
		default:
			return d.Round(time.Microsecond).String()
		}
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// window writes a window length for people: 30s.
func window(d time.Duration) string { return d.Round(time.Millisecond).String() }
