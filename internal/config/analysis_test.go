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

func TestAnalysisProviders(t *testing.T) {
	c := mustParse(t, minimal+`analysis:
  providers:
    - name: upstream-errors
      prometheus: { url: http://127.0.0.1:9091, query: 'sum(x{slot="{{slot}}"})', max: 0.5 }
    - name: business
      timeout: 2s
      webhook: { url: "http://127.0.0.1:8099/verdict/{{version}}", headers: { Authorization: Bearer x } }
`, nil)
	ps := c.Analysis.Providers
	if len(ps) != 2 || ps[0].Kind() != ProviderPrometheus || ps[0].Timeout.D() != defaultProviderTimeout ||
		*ps[0].Prometheus.Max != 0.5 || ps[0].Prometheus.Min != nil ||
		ps[1].Kind() != ProviderWebhook || ps[1].Timeout.D().String() != "2s" || ps[1].Webhook.Headers["Authorization"] != "Bearer x" {
		t.Errorf("providers = %+v", ps)
	}
	_, err := Parse("b.yaml", []byte(minimal+`analysis:
  providers:
    - name: a
      prometheus: { url: ftp://x, query: up }
    - name: a
      webhook: { url: http://h }
      prometheus: { url: http://h, query: up, max: 1, min: 2 }
    - webhook: { url: "" }
      timeout: 0s
    - name: d
`), nil)
	for _, want := range []string{
		"b.yaml:8:26: analysis.providers[0].prometheus.url: want an http:// or https:// URL with a host",
		"analysis.providers[0].prometheus.max: the query has no bound: give it max, min or both",
		`analysis.providers[1].name: duplicate provider name "a" (also analysis.providers[0])`,
		"analysis.providers[1]: set one of prometheus and webhook, not both",
		"analysis.providers[2].name: required",
		"analysis.providers[2].timeout: must be greater than 0s",
		"analysis.providers[2].webhook.url: required",
		"analysis.providers[3].prometheus: required: prometheus: {url, query, max} or webhook: {url}",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("errors %v lack %q", err, want)
		}
	}
}
