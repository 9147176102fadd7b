package config

import (
	"net/url"
	"regexp"
	"strings"
)

// ECSDriver runs each slot's release as an ECS service behind its own ALB
// target group (driver.kind: ecs). Production traffic reaches the live
// slot by the production listener's default action; the optional test
// listener always forwards to the idle slot.
type ECSDriver struct {
	// Region is the AWS region; "" takes it from the SDK's default chain
	// (AWS_REGION, the shared config file, the instance's metadata).
	Region  string `yaml:"region"`
	Cluster string `yaml:"cluster"`
	// Service names both ECS services <service>-blue and <service>-green;
	// Services names them one by one instead.
	Service  string   `yaml:"service"`
	Services ECSSlots `yaml:"services"`
	// TaskFamily is the task definition family both services run.
	TaskFamily string `yaml:"task_family"`
	// Container is the container whose image is set ("" = the first).
	Container string `yaml:"container"`
	// Image is the release's image; {version} and {slot} are replaced.
	Image string `yaml:"image"`
	// DesiredCount is the number of tasks per slot; 0 means 2.
	DesiredCount int `yaml:"desired_count"`
	// TargetGroups are the ARNs of the slots' ALB target groups.
	TargetGroups ECSSlots `yaml:"target_groups"`
	// Listener is the ARN of the production listener; TestListener, when
	// set, the ARN of the listener that always reaches the idle slot.
	Listener     string `yaml:"listener"`
	TestListener string `yaml:"test_listener"`
	// MinHealthy is the share of DesiredCount that must be healthy in the
	// slot's target group for the slot to be ready; 0 means 80%.
	MinHealthy Percent `yaml:"min_healthy"`
	// Endpoint overrides the AWS endpoints of ECS, ELBv2 and CloudWatch
	// (for tests and private stand-ins); "" uses AWS's.
	Endpoint string `yaml:"endpoint"`
}

// ECSSlots is one value per slot (driver.ecs.services, target_groups).
type ECSSlots struct {
	Blue  string `yaml:"blue"`
	Green string `yaml:"green"`
}

// The defaults of driver.ecs when its value is 0.
const (
	ECSDefaultDesiredCount = 2
	ECSDefaultMinHealthy   = 80
)

// ServiceNames are the ECS services of blue and green: driver.ecs.services,
// or driver.ecs.service with -blue and -green.
func (e ECSDriver) ServiceNames() (blue, green string) {
	if e.Service != "" {
		return e.Service + "-blue", e.Service + "-green"
	}
	return e.Services.Blue, e.Services.Green
}

// Count is DesiredCount, or its default.
func (e ECSDriver) Count() int {
	if e.DesiredCount == 0 {
		return ECSDefaultDesiredCount
	}
	return e.DesiredCount
}

// Healthy is MinHealthy, or its default.
func (e ECSDriver) Healthy() int {
	if e.MinHealthy == 0 {
		return ECSDefaultMinHealthy
	}
	return int(e.MinHealthy)
}

var (
	// awsRegion is the form of an AWS region name, such as eu-west-1.
	awsRegion = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	// ecsName is the rule for cluster, service and family names.
	ecsName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$`)
	// elbARN is an ELBv2 ARN of kind (targetgroup or listener).
	elbARN = regexp.MustCompile(`^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:(targetgroup|listener)/[A-Za-z0-9/_.-]{1,400}$`)
	// clusterARN is a cluster given by ARN.
	clusterARN = regexp.MustCompile(`^arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{12}:cluster/[A-Za-z0-9_-]{1,255}$`)
)

// ecs checks driver.ecs when it is the driver.
func (v *validator) ecs() {
	e := v.c.Driver.ECS
	parents := []string{"driver.ecs", "driver.kind", "driver"}
	if e.Region != "" && !awsRegion.MatchString(e.Region) {
		v.at("driver.ecs.region", "invalid AWS region %q: want a name such as eu-west-1, or leave it out to take the region from AWS_REGION or the shared config", e.Region)
	}
	switch {
	case e.Cluster == "":
		v.missing("driver.ecs.cluster", parents, "required when driver.kind is ecs: the ECS cluster's name or ARN, such as `cluster: prod`")
	case !ecsName.MatchString(e.Cluster) && !clusterARN.MatchString(e.Cluster):
		v.at("driver.ecs.cluster", "invalid cluster %q: want a name of letters, digits, '-' and '_', or an ECS cluster ARN", e.Cluster)
	}
	named := e.Services.Blue != "" || e.Services.Green != ""
	switch {
	case e.Service != "" && named:
		v.at("driver.ecs.services", "set either driver.ecs.service (services <service>-blue and <service>-green) or driver.ecs.services.blue and .green, not both")
	case e.Service != "":
		if !ecsName.MatchString(e.Service) || len(e.Service) > 249 {
			v.at("driver.ecs.service", "invalid service name %q: want letters, digits, '-' and '_' (the services are <service>-blue and <service>-green)", e.Service)
		}
	case !named:
		v.missing("driver.ecs.service", parents, "required when driver.kind is ecs: the services' base name, such as `service: shop` for shop-blue and shop-green, or driver.ecs.services with blue and green")
	default:
		v.ecsSlots("driver.ecs.services", e.Services, parents, "an ECS service name", func(s string) bool { return ecsName.MatchString(s) })
		if e.Services.Blue != "" && e.Services.Blue == e.Services.Green {
			v.at("driver.ecs.services.green", "same service as driver.ecs.services.blue (%s); each slot needs its own ECS service", e.Services.Blue)
		}
	}
	switch {
	case e.TaskFamily == "":
		v.missing("driver.ecs.task_family", parents, "required when driver.kind is ecs: the task definition family the services run, such as `task_family: shop`")
	case !ecsName.MatchString(e.TaskFamily):
		v.at("driver.ecs.task_family", "invalid task definition family %q: want letters, digits, '-' and '_'", e.TaskFamily)
	}
	switch {
	case e.Image == "":
		v.missing("driver.ecs.image", parents, "required when driver.kind is ecs: the release's image, such as 123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop:{version}")
	case !strings.Contains(e.Image, "{version}"):
		v.at("driver.ecs.image", "image %q has no {version}: every release would run the same image; write it like shop:{version}", e.Image)
	}
	if e.DesiredCount < 0 || e.DesiredCount > 1000 {
		v.at("driver.ecs.desired_count", "must be from 1 to 1000, not %d (leave it out for %d)", e.DesiredCount, ECSDefaultDesiredCount)
	}
	if v.c.src.has("driver.ecs.min_healthy") && e.MinHealthy < 1 {
		v.at("driver.ecs.min_healthy", "must be from 1%% to 100%%, not %d%%", int(e.MinHealthy))
	}
	arn := func(kind string) func(string) bool {
		return func(s string) bool { m := elbARN.FindStringSubmatch(s); return m != nil && m[1] == kind }
	}
	v.ecsSlots("driver.ecs.target_groups", e.TargetGroups, parents, "a target group ARN such as arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop-blue/0123456789abcdef", arn("targetgroup"))
	if e.TargetGroups.Blue != "" && e.TargetGroups.Blue == e.TargetGroups.Green {
		v.at("driver.ecs.target_groups.green", "same target group as driver.ecs.target_groups.blue; each slot needs its own")
	}
	isListener := arn("listener")
	switch {
	case e.Listener == "":
		v.missing("driver.ecs.listener", parents, "required when driver.kind is ecs: the production listener's ARN, such as arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shop/0123456789abcdef/0123456789abcdef")
	case !isListener(e.Listener):
		v.at("driver.ecs.listener", "invalid listener ARN %q: want arn:aws:elasticloadbalancing:<region>:<account>:listener/app/<lb>/<id>/<id>", e.Listener)
	}
	switch {
	case e.TestListener == "":
	case !isListener(e.TestListener):
		v.at("driver.ecs.test_listener", "invalid listener ARN %q: want arn:aws:elasticloadbalancing:<region>:<account>:listener/app/<lb>/<id>/<id>", e.TestListener)
	case e.TestListener == e.Listener:
		v.at("driver.ecs.test_listener", "same listener as driver.ecs.listener; the test listener must be another one (such as the load balancer's port 8080)")
	}
	if e.Endpoint != "" {
		u, err := url.Parse(e.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.at("driver.ecs.endpoint", "invalid endpoint %q: want an http:// or https:// URL, or leave it out to use AWS's endpoints", e.Endpoint)
		}
	}
}

// ecsSlots checks a required blue/green pair under key.
func (v *validator) ecsSlots(key string, s ECSSlots, parents []string, want string, ok func(string) bool) {
	for _, p := range []struct{ name, val string }{{"blue", s.Blue}, {"green", s.Green}} {
		k := key + "." + p.name
		switch {
		case p.val == "":
			v.missing(k, append([]string{key}, parents...), "required when driver.kind is ecs: %s", want)
		case !ok(p.val):
			v.at(k, "invalid value %q: want %s", p.val, want)
		}
	}
}
