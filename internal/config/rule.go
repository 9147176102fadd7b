package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Rule is one analysis rule: bounds on a metric of the new slot, absolute
// (Max, Min) or relative to the live slot (MaxRatioToLive).
type Rule struct {
	Metric Metric `yaml:"metric"`
	Max    *Limit `yaml:"max"`
	Min    *Limit `yaml:"min"`
	// MaxRatioToLive fails the rule when new/live exceeds it; 0 means not
	// used.
	MaxRatioToLive float64 `yaml:"max_ratio_to_live"`
	// Compare, on a latency rule, adds a statistical comparison of the
	// new slot's whole latency distribution with the live slot's.
	Compare Compare `yaml:"compare"`
	// PathPrefix, MCPMethod and MCPTool, when set, make the rule measure
	// only the requests they select (see Filter).
	PathPrefix string `yaml:"path_prefix"`
	MCPMethod  string `yaml:"mcp_method"`
	MCPTool    string `yaml:"mcp_tool"`
}

// Compare names how a latency rule compares the slots beyond its bounds.
type Compare string

// The compare values.
const (
	CompareNone Compare = ""
	// CompareStatistical fails the rule when a Mann-Whitney U test finds
	// the new slot slower with 99% confidence and a clear effect.
	CompareStatistical Compare = "statistical"
)

// Metric names a measured quantity of a slot.
type Metric string

// The metrics analysis rules may name.
const (
	MetricErrorRate  Metric = "error_rate" // share of 5xx and transport errors
	MetricLatencyP50 Metric = "latency_p50"
	MetricLatencyP90 Metric = "latency_p90"
	MetricLatencyP95 Metric = "latency_p95"
	MetricLatencyP99 Metric = "latency_p99"
)

// Metrics lists the known metrics.
func Metrics() []Metric {
	return []Metric{MetricErrorRate, MetricLatencyP50, MetricLatencyP90, MetricLatencyP95, MetricLatencyP99}
}

// MetricUnit is how a metric's limits are written and stored.
type MetricUnit string

// The metric units.
const (
	UnitRatio   MetricUnit = "ratio"   // written 1%, stored 0.01
	UnitSeconds MetricUnit = "seconds" // written 500ms, stored 0.5
)

// Unit is m's unit, or "" for an unknown metric.
func (m Metric) Unit() MetricUnit {
	switch m {
	case MetricErrorRate:
		return UnitRatio
	case MetricLatencyP50, MetricLatencyP90, MetricLatencyP95, MetricLatencyP99:
		return UnitSeconds
	}
	return ""
}

// Limit is a bound of a rule: Raw as written ("1%", "500ms") and Value in
// the metric's unit (a ratio 0..1 for error_rate, seconds for latencies).
type Limit struct {
	Raw   string
	Value float64
}

// UnmarshalText keeps the text; the value is parsed once the metric is
// known (see parseLimit).
func (l *Limit) UnmarshalText(b []byte) error {
	l.Raw = strings.TrimSpace(string(b))
	return nil
}

// MarshalText writes the limit as written, or its value when built in
// code.
func (l Limit) MarshalText() ([]byte, error) {
	if l.Raw != "" {
		return []byte(l.Raw), nil
	}
	return []byte(strconv.FormatFloat(l.Value, 'g', -1, 64)), nil
}

// Duration is the limit of a latency metric as a duration.
func (l Limit) Duration() time.Duration {
	return time.Duration(l.Value * float64(time.Second))
}

func (l *Limit) describe() string { return "a limit such as 1% or 500ms" }

// parseLimit sets l.Value from l.Raw for metric m.
func parseLimit(m Metric, l *Limit) error {
	switch m.Unit() {
	case UnitRatio:
		s, ok := strings.CutSuffix(l.Raw, "%")
		if !ok {
			return fmt.Errorf("invalid percentage %q for %s: write a percentage such as 1%% or 0.5%%", l.Raw, m)
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || f < 0 || f > 100 {
			return fmt.Errorf("invalid percentage %q for %s: want 0%% to 100%%", l.Raw, m)
		}
		l.Value = f / 100
	case UnitSeconds:
		d, err := parseDuration(l.Raw)
		if err != nil {
			return fmt.Errorf("%w (%s is a latency)", err, m)
		}
		l.Value = d.Seconds()
	case "":
		// Unknown metric: reported by Validate.
	}
	return nil
}

// AnalysisConfigured reports whether the config file has an analysis
// section. Only then are deployments judged by analysis (with the
// section's defaults for the keys it leaves out); without it, steps
// advance on time alone, as before analysis existed.
func (c *Config) AnalysisConfigured() bool { return c.src.has("analysis") }
