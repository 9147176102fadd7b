package analysis

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/config"
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
	NewSlot     string
	LiveSlot    string
	New         Counts
	// Live is the live slot over the same window.
	Live Counts
	// Baseline, if set, stands in for Live when the live slot had fewer
	// than MinRequests requests in the window (while baking it gets none):
	// the live slot's summary from an earlier window.
	Baseline *Summary
}

// Evaluate applies the rules to the window. Fail wins over inconclusive,
// inconclusive over pass:
//
//   - a rule fails when the new slot's value is above max, below min, or
//     above max_ratio_to_live times the live slot's value;
//   - the window is inconclusive when the new slot had fewer than
//     MinRequests requests, or when a ratio rule has no live value to
//     compare with;
//   - otherwise it passes.
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
	liveUsable := v.LiveFrom != ""

	for _, r := range in.Rules {
		v.Rules = append(v.Rules, evalRule(r, v.New, v.Live, liveUsable, in))
	}

	for _, rr := range v.Rules {
		if rr.Result == Fail {
			v.Result, v.DecidedBy = Fail, rr.Rule
			v.Reason = fmt.Sprintf("%s in %s: %s", rr.Rule, window(in.Window), rr.Reason)
			return v
		}
	}
	if v.New.Requests < uint64(in.MinRequests) {
		v.Result, v.DecidedBy = Inconclusive, "min_requests"
		v.Reason = fmt.Sprintf("only %d requests on %s in %s, need %d", v.New.Requests, in.NewSlot, window(in.Window), in.MinRequests)
		return v
	}
	for _, rr := range v.Rules {
		if rr.Result == Inconclusive {
			v.Result, v.DecidedBy = Inconclusive, rr.Rule
			v.Reason = fmt.Sprintf("%s in %s: %s", rr.Rule, window(in.Window), rr.Reason)
			return v
		}
	}
	v.Result = Pass
	v.Reason = fmt.Sprintf("%d rules passed on %d requests on %s in %s", len(v.Rules), v.New.Requests, in.NewSlot, window(in.Window))
	if len(v.Rules) == 1 {
		v.Reason = strings.Replace(v.Reason, "1 rules", "1 rule", 1)
	}
	return v
}

// evalRule applies one rule.
func evalRule(r config.Rule, ns Summary, ls *Summary, liveUsable bool, in Input) RuleResult {
	rr := RuleResult{Rule: describeRule(r), Metric: r.Metric, Result: Pass, MaxRatioToLive: r.MaxRatioToLive}
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
		rr.Result, rr.Reason = Inconclusive, fmt.Sprintf("no requests measured on %s", in.NewSlot)
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
			rr.Reason = fmt.Sprintf("only %d requests on live slot %s in %s, need %d to compare", n, in.LiveSlot, window(in.Window), in.MinRequests)
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
			rr.Reason = fmt.Sprintf("only %d latencies on live slot %s in %s, need %d to compare distributions",
				in.Live.Latency.Total(), in.LiveSlot, window(in.Window), in.MinRequests)
			return rr
		case in.Live.Latency.Total() < uint64(in.MinRequests):
			// Baking: the live slot gets no traffic; the distributions were
			// compared while shifting.
			passed = append(passed, "distributions not compared: no live traffic in this window (baking)")
		default:
			mw := MannWhitneyCounts(in.New.Latency.Counts, in.Live.Latency.Counts)
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
	return strings.Join(parts, " ")
}

func limitText(m config.Metric, l config.Limit) string {
	if l.Raw != "" {
		return l.Raw
	}
	return format(m, l.Value)
}

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
