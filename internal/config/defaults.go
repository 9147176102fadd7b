package config

import "time"

// DefaultMaxRequestBody is the default routing.max_request_body: 32 MiB.
const DefaultMaxRequestBody Size = 32 << 20

// Default is a Config with every default set and nothing app-specific:
// App, the driver's command and backends, checks, migrations' database,
// releases and notifications are empty. Parse decodes the file over it, so
// a key left out keeps its default and a key written replaces it.
func Default() *Config {
	return &Config{
		Listen:         "127.0.0.1:8080",
		PreviewListen:  "127.0.0.1:8081",
		AdminListen:    "127.0.0.1:9090",
		Limits:         defaultLimits(),
		Runtime:        Runtime{GCHeapFloor: DefaultGCHeapFloor},
		State:          ".bluegreen/state.db",
		AdminTokenFile: ".bluegreen/admin.token",
		Driver: Driver{
			Kind: DriverProcess,
			Process: ProcessDriver{
				Instances:   2,
				StopTimeout: Duration(30 * time.Second),
				Dir:         ".",
				LogDir:      ".bluegreen/logs",
			},
			Kubernetes: KubernetesDriver{
				Namespace: "default",
				Replicas:  2,
				SlotLabel: "version",
				MinReady:  100,
				Traffic:   TrafficService,
				Port:      80,
			},
		},
		Health: Health{
			Path:               "/health",
			Interval:           Duration(time.Second),
			Timeout:            Duration(2 * time.Second),
			HealthyThreshold:   2,
			UnhealthyThreshold: 3,
			MaxPassiveEjection: 50,
			ReadyTimeout:       Duration(60 * time.Second),
		},
		Routing: Routing{
			DrainTimeout:   Duration(30 * time.Second),
			Sticky:         Sticky{Cookie: "bg_slot", TTL: Duration(time.Hour)},
			Affinity:       AffinityCookie,
			MCPSessions:    true,
			MCPMetrics:     true,
			MaxRequestBody: DefaultMaxRequestBody,
			// Long enough for slow endpoints; a hung instance is 504.
			ResponseHeaderTimeout: Duration(60 * time.Second),
			PreviewHeader:         PreviewHeader{Name: "X-Canary-Version", ValueFile: ".bluegreen/preview.secret"},
		},
		Strategy:       Strategy{Kind: StrategyLinear, Percent: 10, Interval: 3 * time.Minute},
		BakeTime:       Duration(5 * time.Minute),
		ScaleDownDelay: Duration(30 * time.Minute),
		Analysis: Analysis{
			Interval:    Duration(30 * time.Second),
			MinRequests: 50,
			Rules: []Rule{
				{Metric: MetricErrorRate, Max: &Limit{Raw: "1%", Value: 0.01}, MaxRatioToLive: 2},
				{Metric: MetricLatencyP99, MaxRatioToLive: 1.5},
			},
			OnInconclusive: InconclusivePause,
		},
		Migrations: Migrations{Dir: "migrations"},
	}
}

func (c *Check) setDefaults() {
	c.Slot = SlotIdle
	c.Timeout = Duration(10 * time.Second)
}

func (h *HTTPCheck) setDefaults() {
	h.Method = "GET"
	h.Expect.Status = 200
}

func (m *MCPCheck) setDefaults() { m.Path = "/mcp" }

func (t *MCPToolsList) setDefaults() { t.CompareWithLive = CompareOff }

// finish parses the rule's limits now that its metric is known.
func (r *Rule) finish(h hook) {
	if r.Metric.Unit() == "" {
		return // Validate reports the metric
	}
	for _, l := range []struct {
		key string
		lim *Limit
	}{{"max", r.Max}, {"min", r.Min}} {
		if l.lim == nil {
			continue
		}
		if err := parseLimit(r.Metric, l.lim); err != nil {
			h.errorf(l.key, "%v", err)
		}
	}
	if h.has("max_ratio_to_live") && r.MaxRatioToLive <= 0 {
		h.errorf("max_ratio_to_live", "must be greater than 0 (leave it out to not compare with live)")
	}
}
