package config

import (
	"net/url"
	"strconv"
	"strings"
	"time"
)

// defaultProviderTimeout bounds a provider request when timeout is left
// out.
const defaultProviderTimeout = 5 * time.Second

// Provider is an external system asked for a verdict on each analysis
// window: a Prometheus query with bounds, or a webhook that answers
// pass, fail or inconclusive. Exactly one of Prometheus and Webhook is set.
//
// In Prometheus.Query, Webhook.URL and Webhook.Headers values,
// {{slot}}, {{version}}, {{live_slot}}, {{live_version}}, {{app}} and
// {{window}} (the window's length, such as 30s) are replaced for each
// window.
type Provider struct {
	Name string `yaml:"name"`
	// Timeout bounds one request to the provider (default 5s). A provider
	// that does not answer in time is inconclusive.
	Timeout    Duration            `yaml:"timeout"`
	Prometheus *PrometheusProvider `yaml:"prometheus"`
	Webhook    *WebhookProvider    `yaml:"webhook"`
	CloudWatch *CloudWatchProvider `yaml:"cloudwatch"` // see cloudwatch.go
}

// PrometheusProvider runs an instant query against a Prometheus HTTP API
// at the end of each window. The query must return one number (a scalar
// or a vector of one series): above Max or below Min fails the window,
// no data is inconclusive.
type PrometheusProvider struct {
	URL   string   `yaml:"url"` // such as http://127.0.0.1:9090
	Query string   `yaml:"query"`
	Max   *float64 `yaml:"max"`
	Min   *float64 `yaml:"min"`
}

// WebhookProvider POSTs the window (app, slots, versions, length) as JSON
// to URL, which answers {"result":"pass|fail|inconclusive","reason":"…"}.
type WebhookProvider struct {
	URL     string            `yaml:"url"`
	Headers map[string]string `yaml:"headers"`
}

// ProviderKind names the kind of a provider.
type ProviderKind string

// The provider kinds.
const (
	ProviderPrometheus ProviderKind = "prometheus"
	ProviderWebhook    ProviderKind = "webhook"
)

// Kind is the provider's kind, or "" when it has none or both.
func (p *Provider) Kind() ProviderKind {
	n := 0
	for _, set := range []bool{p.Prometheus != nil, p.Webhook != nil, p.CloudWatch != nil} {
		if set {
			n++
		}
	}
	switch {
	case n != 1:
		return ""
	case p.Prometheus != nil:
		return ProviderPrometheus
	case p.Webhook != nil:
		return ProviderWebhook
	}
	return ProviderCloudWatch
}

func (p *Provider) setDefaults() { p.Timeout = Duration(defaultProviderTimeout) }

// providers validates analysis.providers.
func (v *validator) providers() {
	seen := map[string]string{}
	for i, p := range v.c.Analysis.Providers {
		key := "analysis.providers[" + strconv.Itoa(i) + "]"
		switch {
		case strings.TrimSpace(p.Name) == "":
			v.missing(key+".name", []string{key}, "required: name the provider, such as upstream-errors")
		case seen[p.Name] != "":
			v.at(key+".name", "duplicate provider name %q (also %s)", p.Name, seen[p.Name])
		default:
			seen[p.Name] = key
		}
		v.positive(key+".timeout", p.Timeout)
		switch p.Kind() {
		case ProviderPrometheus:
			q := p.Prometheus
			v.providerURL(key+".prometheus.url", key+".prometheus", q.URL)
			if strings.TrimSpace(q.Query) == "" {
				v.missing(key+".prometheus.query", []string{key + ".prometheus"}, "required: a PromQL query that returns one number")
			}
			if q.Max == nil && q.Min == nil {
				v.missing(key+".prometheus.max", []string{key + ".prometheus"}, "the query has no bound: give it max, min or both")
			}
			if q.Max != nil && q.Min != nil && *q.Min > *q.Max {
				v.at(key+".prometheus.min", "is above max")
			}
		case ProviderWebhook:
			v.providerURL(key+".webhook.url", key+".webhook", p.Webhook.URL)
		case ProviderCloudWatch:
			v.cloudWatch(key+".cloudwatch", p.CloudWatch)
		default:
			switch {
			case p.Prometheus != nil && p.Webhook != nil:
				v.at(key, "set one of prometheus and webhook, not both")
			case p.CloudWatch != nil:
				v.at(key, "set one of prometheus, webhook and cloudwatch, not more")
			default:
				v.missing(key+".prometheus", []string{key}, "required: prometheus: {url, query, max} or webhook: {url}")
			}
		}
	}
}

// providerURL checks a provider's http(s) URL. Errors show only the scheme
// and host: the URL may carry a secret.
func (v *validator) providerURL(key, parent, raw string) {
	if raw == "" {
		v.missing(key, []string{parent}, "required: an http:// or https:// URL")
		return
	}
	u, err := url.Parse(strings.NewReplacer("{{", "x", "}}", "x").Replace(raw)) // placeholders are not URL syntax
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.at(key, "want an http:// or https:// URL with a host")
	}
}
