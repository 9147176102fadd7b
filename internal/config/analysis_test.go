package config

import (
	"strings"
	"testing"
)

func TestAnalysisKeys(t *testing.T) {
	c := mustParse(t, minimal, nil)
	if c.AnalysisConfigured() {
		t.Error("analysis configured without an analysis section")
	}
	c = mustParse(t, minimal+`analysis:
  failure_limit: 2
  consecutive_failures: 1
  rules:
    - { metric: latency_p90, compare: statistical }
`, nil)
	a := c.Analysis
	if !c.AnalysisConfigured() || a.FailureLimit != 2 || a.ConsecutiveFailures != 1 ||
		len(a.Rules) != 1 || a.Rules[0].Compare != CompareStatistical || a.MinRequests != 50 {
		t.Errorf("analysis = %+v", a)
	}
	_, err := Parse("b.yaml", []byte(minimal+`analysis:
  failure_limit: -1
  consecutive_failures: -2
  rules:
    - { metric: error_rate, compare: statistical }
    - { metric: latency_p99, compare: bayes }
`), nil)
	for _, want := range []string{
		"analysis.failure_limit: must not be negative, not -1",
		"analysis.consecutive_failures: must not be negative, not -2",
		"analysis.rules[0].compare: statistical applies to latency metrics, not error_rate",
		`analysis.rules[1].compare: unknown value "bayes": want statistical`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("errors %v lack %q", err, want)
		}
	}
}
