package provider

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/e2e/ecs/standin"
	"github.com/bluegreen-dev/bluegreen/internal/analysis"
	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// cloudWatchSet is the providers of a bluegreen.yaml with driver.kind ecs
// pointed at aws and one cloudwatch provider, with the rules given.
func cloudWatchSet(t *testing.T, aws *standin.Server, blueTG, greenTG, listener, rules string) *Set {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	yaml := fmt.Sprintf(`app: shop
driver:
  kind: ecs
  ecs:
    region: eu-west-1
    cluster: prod
    service: shop
    task_family: shop
    image: shop:{version}
    target_groups: { blue: %s, green: %s }
    listener: %s
    endpoint: %s
analysis:
  min_requests: 50
  rules:
%s
  providers:
    - name: alb
      timeout: 20s
      cloudwatch: { period: 60s }
`, blueTG, greenTG, listener, aws.URL(), rules)
	cfg, err := config.Parse("bluegreen.yaml", []byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	set, err := New(cfg.Analysis.Providers, nil)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// TestCloudWatchProvider: the cloudwatch provider reads RequestCount,
// HTTPCode_Target_5XX_Count and TargetResponseTime p99 of both slots'
// target groups (their TargetGroup and LoadBalancer dimensions) from the
// stand-in over Smithy RPC v2 CBOR, through the real SDK client, and
// judges them by the analysis rules: pass within them, fail above
// error_rate's max, above latency_p99's max, and above
// max_ratio_to_live; inconclusive ("not enough data") under
// min_requests; and it still answers with 30% of the calls throttled.
func TestCloudWatchProvider(t *testing.T) {
	rules := `    - { metric: error_rate, max: 2% }
    - { metric: latency_p99, max: 500ms, max_ratio_to_live: 3 }`
	now := time.Now()
	w := analysis.Window{App: "shop", NewSlot: slot.Green, LiveSlot: slot.Blue, NewVersion: "v2", LiveVersion: "v1", Length: time.Minute}
	for _, tc := range []struct {
		name     string
		green    standin.Datapoint // split over two periods
		throttle float64
		want     analysis.Result
		reason   string
	}{
		{name: "healthy", green: standin.Datapoint{Requests: 400, Errors5xx: 2, ResponseTimeP99Seconds: 0.12}, want: analysis.Pass, reason: "error_rate 0.5%, latency_p99 120ms within the rules"},
		{name: "errors", green: standin.Datapoint{Requests: 400, Errors5xx: 40, ResponseTimeP99Seconds: 0.12}, want: analysis.Fail, reason: "error_rate of green is 10%, above max 2%"},
		{name: "slow", green: standin.Datapoint{Requests: 400, ResponseTimeP99Seconds: 0.9}, want: analysis.Fail, reason: "latency_p99 of green is 900ms, above max 500ms"},
		{name: "slower than live", green: standin.Datapoint{Requests: 400, ResponseTimeP99Seconds: 0.4}, want: analysis.Fail, reason: "above max_ratio_to_live 3"},
		{name: "too few", green: standin.Datapoint{Requests: 30, ResponseTimeP99Seconds: 0.1}, want: analysis.Inconclusive, reason: "not enough data: 30 requests"},
		{name: "throttled", green: standin.Datapoint{Requests: 400, Errors5xx: 2, ResponseTimeP99Seconds: 0.12}, throttle: 0.3, want: analysis.Pass, reason: "error_rate 0.5%, latency_p99 120ms within the rules"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			aws := standin.New(standin.Options{Throttle: tc.throttle, Seed: 3})
			t.Cleanup(aws.Close)
			blueTG, greenTG := aws.AddTargetGroup("shop-blue"), aws.AddTargetGroup("shop-green")
			prod := aws.AddListener(80, blueTG, 0)
			// Two periods in the window, and one before it that must not count.
			for _, at := range []time.Duration{-50 * time.Second, -20 * time.Second} {
				g := tc.green
				g.At, g.Requests, g.Errors5xx = now.Add(at), g.Requests/2, g.Errors5xx/2
				aws.AddMetrics(greenTG, g)
				aws.AddMetrics(blueTG, standin.Datapoint{At: now.Add(at), Requests: 1000, Errors5xx: 1, ResponseTimeP99Seconds: 0.1})
			}
			aws.AddMetrics(greenTG, standin.Datapoint{At: now.Add(-10 * time.Minute), Requests: 5000, Errors5xx: 5000, ResponseTimeP99Seconds: 9})
			set := cloudWatchSet(t, aws, blueTG, greenTG, prod, rules)
			r := set.Judge(t.Context(), w)[0]
			t.Logf("%s: %s", r.Result, r.Reason)
			if r.Result != tc.want || !strings.Contains(r.Reason, tc.reason) {
				t.Errorf("got %s (%s), want %s naming %q", r.Result, r.Reason, tc.want, tc.reason)
			}
			if r.Name != "alb" || r.Kind != "cloudwatch" {
				t.Errorf("result named %q kind %q", r.Name, r.Kind)
			}
			qs := aws.MetricQueries()
			greenDim := greenTG[strings.LastIndex(greenTG, ":")+1:]
			for _, want := range []string{"RequestCount/Sum/" + greenDim, "HTTPCode_Target_5XX_Count/Sum/" + greenDim, "TargetResponseTime/p99/" + greenDim} {
				if !slices.Contains(qs, want) {
					t.Errorf("queries %v lack %s", qs, want)
				}
			}
			if tc.throttle > 0 && aws.Throttled() == 0 {
				t.Error("no call was throttled")
			}
			if got := aws.Actions(); !slices.Equal(got, []string{"cloudwatch:GetMetricData"}) {
				t.Errorf("actions %v, want cloudwatch:GetMetricData alone", got)
			}
		})
	}
}

// TestCloudWatchNeedsECS: the cloudwatch provider without driver.kind
// ecs is a config error naming the key.
func TestCloudWatchNeedsECS(t *testing.T) {
	yaml := `app: shop
driver:
  kind: static
  static: { blue: [127.0.0.1:3001], green: [127.0.0.1:3002] }
analysis:
  providers:
    - name: alb
      cloudwatch: {}
`
	_, err := config.Parse("bluegreen.yaml", []byte(yaml), func(string) (string, bool) { return "", false })
	if err == nil || !strings.Contains(err.Error(), "analysis.providers[0].cloudwatch") || !strings.Contains(err.Error(), "driver.kind ecs") {
		t.Errorf("got %v, want an error naming analysis.providers[0].cloudwatch and driver.kind ecs", err)
	}
}

// TestCloudWatchIAMPolicyInDocs: the BluegreenCloudWatch statement of the
// policy in docs/ecs.md lists exactly the action the provider calls.
func TestCloudWatchIAMPolicyInDocs(t *testing.T) {
	aws := standin.New(standin.Options{})
	t.Cleanup(aws.Close)
	blueTG, greenTG := aws.AddTargetGroup("shop-blue"), aws.AddTargetGroup("shop-green")
	set := cloudWatchSet(t, aws, blueTG, greenTG, aws.AddListener(80, blueTG, 0), "    - { metric: latency_p99, max: 1s }")
	set.Judge(t.Context(), analysis.Window{App: "shop", NewSlot: slot.Green, LiveSlot: slot.Blue, Length: time.Minute})
	policy, err := standin.DocumentedPolicy("../../../docs/ecs.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := policy["BluegreenCloudWatch"]
	if seen := aws.Actions(); !slices.Equal(documented, seen) {
		t.Errorf("docs/ecs.md's BluegreenCloudWatch statement lists %v; the provider called %v", documented, seen)
	}
}
