package config

import (
	"strings"
	"time"
)

// CloudWatchProvider judges each analysis window on the ALB's
// per-target-group metrics in CloudWatch (namespace AWS/ApplicationELB):
// RequestCount and HTTPCode_Target_5XX_Count (Sum) and TargetResponseTime
// (the percentiles the rules name, as extended statistics), of the new
// slot's target group and of the live one's, over the window. It needs
// driver.kind ecs: the target groups, the load balancer (from the
// listener's ARN), the region and the endpoint come from driver.ecs.
// The analysis rules without a filter judge it as they judge the
// router's measurements; fewer than analysis.min_requests requests on
// the new slot is "not enough data" (inconclusive).
type CloudWatchProvider struct {
	// Period is the metrics' period (default 60s, ALB metrics'
	// resolution): 1s, 5s, 10s, 30s or a multiple of 60s.
	Period Duration `yaml:"period"`

	// Filled in from the rest of the config when it is checked.
	ECS         ECSDriver `yaml:"-"`
	Rules       []Rule    `yaml:"-"`
	MinRequests int       `yaml:"-"`
}

// ProviderCloudWatch is the cloudwatch provider's kind.
const ProviderCloudWatch ProviderKind = "cloudwatch"

// defaultCloudWatchPeriod is CloudWatchProvider.Period's default.
const defaultCloudWatchPeriod = 60 * time.Second

// cloudWatch checks analysis.providers[i].cloudwatch at key and fills in
// what it takes from driver.ecs and analysis.
func (v *validator) cloudWatch(key string, p *CloudWatchProvider) {
	if v.c.Driver.Kind != DriverECS {
		v.at(key, "the cloudwatch provider reads the ALB metrics of driver.ecs's target groups: it needs driver.kind ecs, not %q", v.c.Driver.Kind)
	}
	if p.Period == 0 {
		p.Period = Duration(defaultCloudWatchPeriod)
	}
	d := p.Period.D()
	switch {
	case d == time.Second, d == 5*time.Second, d == 10*time.Second, d == 30*time.Second:
	case d > 0 && d%time.Minute == 0:
	default:
		v.at(key+".period", "invalid period %s: CloudWatch takes 1s, 5s, 10s, 30s or a multiple of 60s", d)
	}
	if v.c.Driver.Kind == DriverECS && !strings.Contains(v.c.Driver.ECS.Listener, ":listener/app/") {
		v.at(key, "the cloudwatch provider finds the load balancer from driver.ecs.listener, an ALB listener ARN (…:listener/app/<lb>/<id>/<id>)")
	}
	p.ECS, p.Rules, p.MinRequests = v.c.Driver.ECS, v.c.Analysis.Rules, v.c.Analysis.MinRequests
}
