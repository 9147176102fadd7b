package main

import (
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/bluegreen-dev/bluegreen/internal/analysis"
)

// renderVerdict writes the newest analysis verdict for `bluegreen status`:
// one line with the result, then one row per rule (and per kind of
// traffic, with synthetic traffic) and per provider: the values of both
// slots, the threshold, the sample sizes and the result.
func renderVerdict(v analysis.Verdict) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  analysis: %s in %s window (min_requests %d)", v.Result, windowText(v.WindowSeconds), v.MinRequests)
	if v.DecidedBy != "" {
		fmt.Fprintf(&b, ", decided by %s", v.DecidedBy)
		if v.DecidedOn != "" {
			fmt.Fprintf(&b, " on %s requests", v.DecidedOn)
		}
	}
	b.WriteString("\n")
	if len(v.Rules) == 0 && len(v.Providers) == 0 {
		return b.String()
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	synth := v.Synthetic != nil
	head := []string{"RULE", "NEW " + string(v.NewSlot), "LIVE " + string(v.LiveSlot), "THRESHOLD", "SAMPLES NEW/LIVE", "RESULT"}
	if synth {
		head = append(head[:1], append([]string{"TRAFFIC"}, head[1:]...)...)
	}
	row(tw, head...)
	rules := func(kind string, rs []analysis.RuleResult) {
		for _, r := range rs {
			cells := []string{ruleName(r), value(r, r.New), liveValue(r), threshold(r), samples(r), string(r.Result)}
			if synth {
				cells = append(cells[:1], append([]string{kind}, cells[1:]...)...)
			}
			row(tw, cells...)
		}
	}
	rules("user", v.Rules)
	if synth {
		rules("synthetic", v.Synthetic.Rules)
	}
	for _, p := range v.Providers {
		cells := []string{"provider " + p.Name, number(p.Value), "-", bounds(p.Max, p.Min), "-", string(p.Result)}
		if synth {
			cells = append(cells[:1], append([]string{"-"}, cells[1:]...)...)
		}
		row(tw, cells...)
	}
	_ = tw.Flush() // writes to a strings.Builder
	return b.String()
}

// row writes one indented table row.
func row(tw *tabwriter.Writer, cells ...string) {
	fmt.Fprintf(tw, "    %s\n", strings.Join(cells, "\t"))
}

// ruleName is the rule's metric and filter: "error_rate mcp_tool search".
func ruleName(r analysis.RuleResult) string {
	if r.Filter == "" {
		return string(r.Metric)
	}
	return string(r.Metric) + " " + r.Filter
}

func value(r analysis.RuleResult, v *float64) string {
	if v == nil {
		return "-"
	}
	return analysis.FormatValue(r.Metric, *v)
}

func liveValue(r analysis.RuleResult) string {
	s := value(r, r.Live)
	if r.LiveFrom == "baseline" && r.Live != nil {
		s += " (baseline)"
	}
	return s
}

// threshold writes the rule's bounds: "max 1%, ≤2× live, statistical".
func threshold(r analysis.RuleResult) string {
	var parts []string
	if r.Max != nil {
		parts = append(parts, "max "+analysis.FormatValue(r.Metric, *r.Max))
	}
	if r.Min != nil {
		parts = append(parts, "min "+analysis.FormatValue(r.Metric, *r.Min))
	}
	if r.MaxRatioToLive > 0 {
		parts = append(parts, "≤"+strconv.FormatFloat(r.MaxRatioToLive, 'g', -1, 64)+"× live")
	}
	if r.MannWhitney != nil || strings.Contains(r.Rule, "compare statistical") {
		parts = append(parts, "statistical")
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

func samples(r analysis.RuleResult) string {
	return strconv.FormatUint(r.Requests, 10) + "/" + strconv.FormatUint(r.LiveRequests, 10)
}

func number(v *float64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(*v, 'g', 4, 64)
}

func bounds(maxV, minV *float64) string {
	var parts []string
	if maxV != nil {
		parts = append(parts, "max "+number(maxV))
	}
	if minV != nil {
		parts = append(parts, "min "+number(minV))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// windowText writes a window length: 30s, 1m30s.
func windowText(seconds float64) string {
	return strings.TrimSuffix(strconv.FormatFloat(seconds, 'f', -1, 64)+"s", ".0s")
}
