package ecs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// Options configure the driver; config.ECSDriver maps onto them.
type Options struct {
	// Region is the AWS region ("" = the SDK's default chain).
	Region  string
	Cluster string
	// Services and TargetGroups name each slot's ECS service and the ARN
	// of its target group.
	Services     map[slot.Slot]string
	TargetGroups map[slot.Slot]string
	// Family is the task definition family; Container the container whose
	// image is set ("" = the first); Image the release's image with
	// {version} and {slot} replaced.
	Family, Container, Image string
	// DesiredCount is the number of tasks per slot (default 2); MinHealthy
	// the percent of it that must be healthy in the target group for the
	// slot to be ready (default 80).
	DesiredCount int32
	MinHealthy   int
	// Listener is the production listener's ARN; TestListener, when set,
	// the listener that always forwards to the idle slot.
	Listener, TestListener string
	// Endpoint overrides the AWS endpoints (tests); Credentials, when set,
	// replace the default chain's (tests).
	Endpoint    string
	Credentials aws.CredentialsProvider
	// MaxAttempts is the SDK's attempts per call, retries of throttled
	// and failed calls included (default 10).
	MaxAttempts int
	// CallTimeout bounds the calls of one Router method, which takes no
	// context (default 10s).
	CallTimeout time.Duration
	// AfterWrite, when set, is called right after each ModifyListener of
	// the production listener returns success, before it is read back,
	// with the weights written: serve's fault injection
	// (BLUEGREEN_FAULT_ECS_CRASH_AFTER_WRITE) kills the process there.
	AfterWrite func(listener string, weights map[slot.Slot]int)
}

// The defaults New fills in for zero Options.
const (
	DefaultDesiredCount = 2
	DefaultMinHealthy   = 80
	DefaultMaxAttempts  = 10
	DefaultCallTimeout  = 10 * time.Second
)

// VersionLabel is the docker label the driver sets on the container it
// changes: the release the task definition revision runs.
const VersionLabel = "bluegreen.dev/version"

// LiveTag is the tag on the production listener that says the live slot.
const LiveTag = "bluegreen.dev/live"

func (o Options) defaulted() (Options, error) {
	if o.DesiredCount == 0 {
		o.DesiredCount = DefaultDesiredCount
	}
	if o.MinHealthy == 0 {
		o.MinHealthy = DefaultMinHealthy
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.CallTimeout == 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	switch {
	case o.Cluster == "":
		return o, errors.New("ecs driver: no cluster")
	case o.Family == "":
		return o, errors.New("ecs driver: no task definition family")
	case !strings.Contains(o.Image, "{version}"):
		return o, fmt.Errorf("ecs driver: image %q has no {version}", o.Image)
	case o.Listener == "":
		return o, errors.New("ecs driver: no production listener")
	case o.DesiredCount < 0 || o.MinHealthy < 1 || o.MinHealthy > 100:
		return o, fmt.Errorf("ecs driver: desired count %d, min healthy %d%%", o.DesiredCount, o.MinHealthy)
	}
	for _, s := range slot.All() {
		if o.Services[s] == "" || o.TargetGroups[s] == "" {
			return o, fmt.Errorf("ecs driver: slot %s needs a service and a target group", s)
		}
	}
	if o.Services[slot.Blue] == o.Services[slot.Green] || o.TargetGroups[slot.Blue] == o.TargetGroups[slot.Green] {
		return o, errors.New("ecs driver: blue and green need their own service and target group")
	}
	return o, nil
}

// image is the release's image for slot s.
func (o Options) image(s slot.Slot, version string) string {
	return strings.NewReplacer("{version}", version, "{slot}", string(s)).Replace(o.Image)
}

// Clients makes the ECS and ELBv2 clients of opts from the SDK's default
// configuration chain (config.LoadDefaultConfig): credentials and region
// from the environment, the shared files or the instance's role, with
// opts.Region, opts.Credentials and opts.Endpoint overriding, and a
// standard retryer of opts.MaxAttempts attempts.
func Clients(ctx context.Context, opts Options) (*ecs.Client, *elb.Client, aws.Config, error) {
	attempts := opts.MaxAttempts
	if attempts == 0 {
		attempts = DefaultMaxAttempts
	}
	load := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = attempts
				o.MaxBackoff = 2 * time.Second
			})
		}),
	}
	if opts.Region != "" {
		load = append(load, awsconfig.WithRegion(opts.Region))
	}
	if opts.Credentials != nil {
		load = append(load, awsconfig.WithCredentialsProvider(opts.Credentials))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, nil, aws.Config{}, fmt.Errorf("aws config: %w", err)
	}
	if cfg.Region == "" {
		return nil, nil, cfg, errors.New("aws config: no region: set driver.ecs.region or AWS_REGION")
	}
	var endpoint *string
	if opts.Endpoint != "" {
		endpoint = aws.String(opts.Endpoint)
	}
	e := ecs.NewFromConfig(cfg, func(o *ecs.Options) { o.BaseEndpoint = endpoint })
	l := elb.NewFromConfig(cfg, func(o *elb.Options) { o.BaseEndpoint = endpoint })
	return e, l, cfg, nil
}
