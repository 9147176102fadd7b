package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/bluegreen-dev/bluegreen/internal/analysis"
	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// cloudWatchAPI is what the cloudwatch provider calls; *cloudwatch.Client
// implements it.
type cloudWatchAPI interface {
	GetMetricData(ctx context.Context, in *cloudwatch.GetMetricDataInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error)
}

// cloudWatch asks CloudWatch for the ALB metrics of both slots' target
// groups over the window (one GetMetricData) and judges them by the
// analysis rules without a filter.
type cloudWatch struct {
	cfg config.CloudWatchProvider
	now func() time.Time

	mu     sync.Mutex
	client cloudWatchAPI // made on first use: loading the AWS config may ask the instance metadata
}

func (c *cloudWatch) api(ctx context.Context) (cloudWatchAPI, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client != nil {
		return c.client, nil
	}
	var load []func(*awsconfig.LoadOptions) error
	if c.cfg.ECS.Region != "" {
		load = append(load, awsconfig.WithRegion(c.cfg.ECS.Region))
	}
	ac, err := awsconfig.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	if ac.Region == "" {
		return nil, errors.New("aws config: no region: set driver.ecs.region or AWS_REGION")
	}
	var endpoint *string
	if c.cfg.ECS.Endpoint != "" {
		endpoint = aws.String(c.cfg.ECS.Endpoint)
	}
	c.client = cloudwatch.NewFromConfig(ac, func(o *cloudwatch.Options) { o.BaseEndpoint = endpoint })
	return c.client, nil
}

// Dimension values of the AWS/ApplicationELB metrics.
func targetGroupDim(arn string) string { return arn[strings.LastIndex(arn, ":")+1:] }

func loadBalancerDim(listenerARN string) string {
	_, rest, _ := strings.Cut(listenerARN, ":listener/")
	parts := strings.Split(rest, "/") // app/<name>/<lb id>/<listener id>
	if len(parts) < 3 {
		return ""
	}
	return strings.Join(parts[:3], "/")
}

// cwSlot is one slot's numbers over the window.
type cwSlot struct {
	requests, errors float64
	latency          map[config.Metric]float64 // highest period's percentile, seconds
}

func (c *cloudWatch) judge(ctx context.Context, w analysis.Window) analysis.ProviderResult {
	api, err := c.api(ctx)
	if err != nil {
		return inconclusive("cloudwatch: %v", err)
	}
	tg := map[slot.Slot]string{slot.Blue: c.cfg.ECS.TargetGroups.Blue, slot.Green: c.cfg.ECS.TargetGroups.Green}
	period := c.cfg.Period.D()
	end := c.now()
	start := end.Add(-max(w.Length, period))
	var rules []config.Rule
	stats := map[config.Metric]string{}
	for _, r := range c.cfg.Rules {
		if !r.Filter().IsZero() {
			continue // CloudWatch cannot select requests by path or MCP method
		}
		rules = append(rules, r)
		if r.Metric != config.MetricErrorRate {
			stats[r.Metric] = "p" + strings.TrimPrefix(string(r.Metric), "latency_p")
		}
	}
	var qs []cwtypes.MetricDataQuery
	add := func(id, metric, stat string, s slot.Slot) {
		qs = append(qs, cwtypes.MetricDataQuery{
			Id: aws.String(id), ReturnData: aws.Bool(true),
			MetricStat: &cwtypes.MetricStat{
				Metric: &cwtypes.Metric{Namespace: aws.String("AWS/ApplicationELB"), MetricName: aws.String(metric),
					Dimensions: []cwtypes.Dimension{
						{Name: aws.String("TargetGroup"), Value: aws.String(targetGroupDim(tg[s]))},
						{Name: aws.String("LoadBalancer"), Value: aws.String(loadBalancerDim(c.cfg.ECS.Listener))},
					}},
				Period: aws.Int32(int32(period / time.Second)), Stat: aws.String(stat),
			},
		})
	}
	for _, s := range []slot.Slot{w.NewSlot, w.LiveSlot} {
		add("requests_"+string(s), "RequestCount", "Sum", s)
		add("errors_"+string(s), "HTTPCode_Target_5XX_Count", "Sum", s)
		for m, st := range stats {
			add(string(m)+"_"+string(s), "TargetResponseTime", st, s)
		}
	}
	got := map[slot.Slot]*cwSlot{w.NewSlot: {latency: map[config.Metric]float64{}}, w.LiveSlot: {latency: map[config.Metric]float64{}}}
	in := &cloudwatch.GetMetricDataInput{StartTime: aws.Time(start), EndTime: aws.Time(end), MetricDataQueries: qs}
	for page := 0; ; page++ {
		out, err := api.GetMetricData(ctx, in)
		if err != nil {
			return inconclusive("cloudwatch GetMetricData: %v", err)
		}
		for _, r := range out.MetricDataResults {
			id := aws.ToString(r.Id)
			i := strings.LastIndex(id, "_")
			if i < 0 {
				continue
			}
			sd := got[slot.Slot(id[i+1:])]
			if sd == nil {
				continue
			}
			for _, v := range r.Values {
				switch name := id[:i]; name {
				case "requests":
					sd.requests += v
				case "errors":
					sd.errors += v
				default:
					sd.latency[config.Metric(name)] = max(sd.latency[config.Metric(name)], v)
				}
			}
		}
		if out.NextToken == nil || page > 100 {
			break
		}
		in.NextToken = out.NextToken
	}
	return c.decide(rules, got[w.NewSlot], got[w.LiveSlot], w)
}

// decide judges the new slot's numbers by the rules, as the router's are
// judged: a rule fails above max, below min or above max_ratio_to_live
// times the live slot's value (the live slot needing min_requests); a
// window that failed no rule is inconclusive under min_requests.
func (c *cloudWatch) decide(rules []config.Rule, n, l *cwSlot, w analysis.Window) analysis.ProviderResult {
	value := func(s *cwSlot, m config.Metric) (float64, bool) {
		if m == config.MetricErrorRate {
			if s.requests == 0 {
				return 0, false
			}
			return s.errors / s.requests, true
		}
		v, ok := s.latency[m]
		return v, ok
	}
	summary := fmt.Sprintf("%s: %.0f requests, %.0f 5xx; %s: %.0f requests, %.0f 5xx", w.NewSlot, n.requests, n.errors, w.LiveSlot, l.requests, l.errors)
	rate := 0.0
	if n.requests > 0 {
		rate = n.errors / n.requests
	}
	r := analysis.ProviderResult{Result: analysis.Pass, Value: &rate, Query: "AWS/ApplicationELB RequestCount, HTTPCode_Target_5XX_Count, TargetResponseTime by TargetGroup"}
	var passed []string
	for _, rule := range rules {
		v, ok := value(n, rule.Metric)
		if !ok {
			continue
		}
		text := analysis.FormatValue(rule.Metric, v)
		switch {
		case rule.Max != nil && v > rule.Max.Value:
			r.Result, r.Reason = analysis.Fail, fmt.Sprintf("%s of %s is %s, above max %s (%s)", rule.Metric, w.NewSlot, text, rule.Max.Raw, summary)
			return r
		case rule.Min != nil && v < rule.Min.Value:
			r.Result, r.Reason = analysis.Fail, fmt.Sprintf("%s of %s is %s, below min %s (%s)", rule.Metric, w.NewSlot, text, rule.Min.Raw, summary)
			return r
		case rule.MaxRatioToLive > 0 && l.requests >= float64(c.cfg.MinRequests):
			lv, ok := value(l, rule.Metric)
			if !ok {
				break
			}
			if rule.Metric == config.MetricErrorRate && n.requests > 0 {
				lv = max(lv, 1/n.requests) // one error in the new slot's count, as the router's rule
			} else if v-lv < analysis.LatencyNoiseFloor.Seconds() {
				break
			}
			if lv > 0 && v/lv > rule.MaxRatioToLive {
				r.Result, r.Reason = analysis.Fail, fmt.Sprintf("%s of %s is %s, %.1f× the live slot's %s, above max_ratio_to_live %g (%s)",
					rule.Metric, w.NewSlot, text, v/lv, analysis.FormatValue(rule.Metric, lv), rule.MaxRatioToLive, summary)
				return r
			}
		}
		passed = append(passed, fmt.Sprintf("%s %s", rule.Metric, text))
	}
	if n.requests < float64(c.cfg.MinRequests) {
		r.Result, r.Reason = analysis.Inconclusive, fmt.Sprintf("not enough data: %.0f requests on %s's target group, fewer than min_requests %d (%s)",
			n.requests, w.NewSlot, c.cfg.MinRequests, summary)
		return r
	}
	r.Reason = summary
	if len(passed) > 0 {
		r.Reason = strings.Join(passed, ", ") + " within the rules (" + summary + ")"
	}
	return r
}
