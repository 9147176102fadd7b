package ecs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/bluegreen-dev/bluegreen/internal/deploy"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// ECSAPI is what the driver calls of ECS; *ecs.Client implements it.
type ECSAPI interface {
	DescribeServices(ctx context.Context, in *ecs.DescribeServicesInput, optFns ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error)
	DescribeTaskDefinition(ctx context.Context, in *ecs.DescribeTaskDefinitionInput, optFns ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error)
	RegisterTaskDefinition(ctx context.Context, in *ecs.RegisterTaskDefinitionInput, optFns ...func(*ecs.Options)) (*ecs.RegisterTaskDefinitionOutput, error)
	UpdateService(ctx context.Context, in *ecs.UpdateServiceInput, optFns ...func(*ecs.Options)) (*ecs.UpdateServiceOutput, error)
	ListTasks(ctx context.Context, in *ecs.ListTasksInput, optFns ...func(*ecs.Options)) (*ecs.ListTasksOutput, error)
	DescribeTasks(ctx context.Context, in *ecs.DescribeTasksInput, optFns ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error)
}

// ELBAPI is what the driver calls of ELBv2; *elasticloadbalancingv2.Client
// implements it.
type ELBAPI interface {
	DescribeListeners(ctx context.Context, in *elb.DescribeListenersInput, optFns ...func(*elb.Options)) (*elb.DescribeListenersOutput, error)
	ModifyListener(ctx context.Context, in *elb.ModifyListenerInput, optFns ...func(*elb.Options)) (*elb.ModifyListenerOutput, error)
	DescribeTargetHealth(ctx context.Context, in *elb.DescribeTargetHealthInput, optFns ...func(*elb.Options)) (*elb.DescribeTargetHealthOutput, error)
	AddTags(ctx context.Context, in *elb.AddTagsInput, optFns ...func(*elb.Options)) (*elb.AddTagsOutput, error)
	DescribeTags(ctx context.Context, in *elb.DescribeTagsInput, optFns ...func(*elb.Options)) (*elb.DescribeTagsOutput, error)
}

// Driver runs each slot's release in its ECS service. What runs is what
// ECS says runs; the driver remembers only which revision it last gave
// each slot (so that a stale DescribeServices is not taken for ready),
// and Start, re-run after a restart, sets that again.
type Driver struct {
	ecs  ECSAPI
	elb  ELBAPI
	opts Options

	mu    sync.Mutex
	want  map[slot.Slot]string    // task definition ARN Start gave the slot
	since map[slot.Slot]time.Time // when Start last updated the slot's service
}

var _ deploy.Runtime = (*Driver)(nil)

// New is a driver over the SDK clients of Clients(ctx, opts).
func New(ctx context.Context, opts Options) (*Driver, error) {
	e, l, _, err := Clients(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("ecs driver: %w", err)
	}
	return NewForClients(e, l, opts)
}

// NewForClients is New with clients already made. Zero DesiredCount,
// MinHealthy, MaxAttempts and CallTimeout get the defaults.
func NewForClients(e ECSAPI, l ELBAPI, opts Options) (*Driver, error) {
	opts, err := opts.defaulted()
	if err != nil {
		return nil, err
	}
	return &Driver{ecs: e, elb: l, opts: opts, want: map[slot.Slot]string{}, since: map[slot.Slot]time.Time{}}, nil
}

// Options are the driver's options with the defaults filled in.
func (d *Driver) Options() Options { return d.opts }

// Start makes slot's service run version: a task definition revision of
// the family with the release's image (the service's or the family's
// latest when it has that image already, else a new one registered from
// the family's latest) and the desired count, by one UpdateService when
// the service differs. It returns the addresses (ip:port) of the slot's
// healthy targets: none, usually; the controller waits for Ready.
func (d *Driver) Start(ctx context.Context, s slot.Slot, version string) ([]string, error) {
	name := d.opts.Services[s]
	svc, err := d.service(ctx, s)
	if err != nil {
		return nil, err
	}
	image := d.opts.image(s, version)
	td, err := d.revision(ctx, svc, image, version)
	if err != nil {
		return nil, fmt.Errorf("task definition of %s for %s: %w", name, version, err)
	}
	d.mu.Lock()
	d.want[s] = td
	d.mu.Unlock()
	if aws.ToString(svc.TaskDefinition) != td || svc.DesiredCount != d.opts.DesiredCount {
		d.mu.Lock()
		d.since[s] = time.Now()
		d.mu.Unlock()
		_, err := d.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{
			Cluster: aws.String(d.opts.Cluster), Service: aws.String(name),
			TaskDefinition: aws.String(td), DesiredCount: aws.Int32(d.opts.DesiredCount),
		})
		if err != nil {
			return nil, fmt.Errorf("update service %s to %s (%s, %d tasks): %w", name, version, td, d.opts.DesiredCount, err)
		}
	}
	return d.addresses(ctx, s)
}

// Stop sets slot's service's desired count to 0; the service, its
// target group and its task definition stay, so that the next Start is
// one write. A service at 0 already is not written.
func (d *Driver) Stop(ctx context.Context, s slot.Slot) error {
	svc, err := d.service(ctx, s)
	if err != nil {
		return err
	}
	if svc.DesiredCount == 0 {
		return nil
	}
	name := d.opts.Services[s]
	_, err = d.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{
		Cluster: aws.String(d.opts.Cluster), Service: aws.String(name), DesiredCount: aws.Int32(0),
	})
	if err != nil {
		return fmt.Errorf("scale service %s to 0: %w", name, err)
	}
	return nil
}

// runningTimeout bounds Running's calls: it has no context.
const runningTimeout = 10 * time.Second

// Running lists slot's healthy targets when its service has tasks to
// run; nil when it has none or cannot be read.
func (d *Driver) Running(s slot.Slot) []string {
	ctx, cancel := context.WithTimeout(context.Background(), runningTimeout)
	defer cancel()
	svc, err := d.service(ctx, s)
	if err != nil || svc.DesiredCount == 0 {
		return nil
	}
	addrs, err := d.addresses(ctx, s)
	if err != nil {
		return nil
	}
	return addrs
}

// Version is the release slot's service runs (its revision's version
// label, "" when none) and its desired count.
func (d *Driver) Version(ctx context.Context, s slot.Slot) (string, int32, error) {
	svc, err := d.service(ctx, s)
	if err != nil {
		return "", 0, err
	}
	if svc.TaskDefinition == nil {
		return "", svc.DesiredCount, nil
	}
	td, err := d.taskDefinition(ctx, *svc.TaskDefinition)
	if err != nil {
		return "", 0, err
	}
	c := d.container(td)
	if c == nil {
		return "", svc.DesiredCount, nil
	}
	return c.DockerLabels[VersionLabel], svc.DesiredCount, nil
}

// Ready counts slot's healthy targets out of its desired count. The slot
// is ready when its service is steady on the revision Start gave it (one
// deployment, not in progress, running = desired) and at least
// ceil(MinHealthy% × desired) of its target group's targets are healthy:
// then ready = total = desired. Otherwise ready is below total. A
// service at 0 tasks is 0 of 0.
func (d *Driver) Ready(ctx context.Context, s slot.Slot) (ready, total int, err error) {
	svc, err := d.service(ctx, s)
	if err != nil {
		return 0, 0, err
	}
	desired := int(svc.DesiredCount)
	if desired == 0 {
		return 0, 0, nil
	}
	healthy, err := d.healthy(ctx, s)
	if err != nil {
		return 0, desired, err
	}
	need := (desired*d.opts.MinHealthy + 99) / 100
	if d.steady(s, svc) && len(healthy) >= need {
		return desired, desired, nil
	}
	return min(len(healthy), desired-1), desired, nil
}

// steady says svc runs the revision Start gave slot s, in one deployment
// that is not in progress, with every desired task running.
func (d *Driver) steady(s slot.Slot, svc *ecstypes.Service) bool {
	d.mu.Lock()
	want := d.want[s]
	d.mu.Unlock()
	if len(svc.Deployments) != 1 || svc.RunningCount != svc.DesiredCount {
		return false
	}
	dep := svc.Deployments[0]
	if want != "" && (aws.ToString(svc.TaskDefinition) != want || aws.ToString(dep.TaskDefinition) != want) {
		return false
	}
	switch dep.RolloutState {
	case ecstypes.DeploymentRolloutStateCompleted, "":
		return dep.RunningCount == dep.DesiredCount
	}
	return false
}

// Stuck says why slot's release cannot start: its deployment's rollout
// FAILED (the circuit breaker), or a task of its deployment, stopped since
// the deployment began (or since Start updated the service), stopped
// because it could not start (stopCode TaskFailedToStart, such as
// CannotPullContainerError), because an essential container exited, or
// because it failed its health checks. The reason is ECS's stoppedReason
// with the container's reason, and names the task.
func (d *Driver) Stuck(ctx context.Context, s slot.Slot) (string, error) {
	svc, err := d.service(ctx, s)
	if err != nil {
		return "", err
	}
	if svc.DesiredCount == 0 {
		return "", nil
	}
	var primary *ecstypes.Deployment
	for i := range svc.Deployments {
		if aws.ToString(svc.Deployments[i].Status) == "PRIMARY" {
			primary = &svc.Deployments[i]
		}
	}
	if primary == nil {
		return "", nil
	}
	name := d.opts.Services[s]
	if primary.RolloutState == ecstypes.DeploymentRolloutStateFailed {
		return fmt.Sprintf("deployment %s of service %s failed: %s", aws.ToString(primary.Id), name,
			aws.ToString(primary.RolloutStateReason)), nil
	}
	since := aws.ToTime(primary.CreatedAt)
	d.mu.Lock()
	if t := d.since[s]; t.After(since) {
		since = t
	}
	d.mu.Unlock()
	list, err := d.ecs.ListTasks(ctx, &ecs.ListTasksInput{
		Cluster: aws.String(d.opts.Cluster), ServiceName: aws.String(name),
		DesiredStatus: ecstypes.DesiredStatusStopped, MaxResults: aws.Int32(100),
	})
	if err != nil {
		return "", fmt.Errorf("list stopped tasks of %s: %w", name, err)
	}
	if len(list.TaskArns) == 0 {
		return "", nil
	}
	out, err := d.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(d.opts.Cluster), Tasks: list.TaskArns})
	if err != nil {
		return "", fmt.Errorf("describe stopped tasks of %s: %w", name, err)
	}
	for _, t := range out.Tasks {
		if aws.ToString(t.TaskDefinitionArn) != aws.ToString(primary.TaskDefinition) ||
			(t.StoppedAt != nil && t.StoppedAt.Before(since)) || !cannotRun(t) {
			continue
		}
		why := fmt.Sprintf("task %s of service %s stopped: %s", taskID(aws.ToString(t.TaskArn)), name, aws.ToString(t.StoppedReason))
		for _, c := range t.Containers {
			switch {
			case aws.ToString(c.Reason) != "":
				why += fmt.Sprintf(" (container %s: %s)", aws.ToString(c.Name), aws.ToString(c.Reason))
			case c.ExitCode != nil && *c.ExitCode != 0:
				why += fmt.Sprintf(" (container %s exited with code %d)", aws.ToString(c.Name), *c.ExitCode)
			}
		}
		return why, nil
	}
	return "", nil
}

// cannotRun says a stopped task stopped for its release, not for scaling.
func cannotRun(t ecstypes.Task) bool {
	switch t.StopCode {
	case ecstypes.TaskStopCodeTaskFailedToStart, ecstypes.TaskStopCodeEssentialContainerExited:
		return true
	}
	return strings.Contains(strings.ToLower(aws.ToString(t.StoppedReason)), "health check")
}

func taskID(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

// service reads slot's ECS service.
func (d *Driver) service(ctx context.Context, s slot.Slot) (*ecstypes.Service, error) {
	name := d.opts.Services[s]
	out, err := d.ecs.DescribeServices(ctx, &ecs.DescribeServicesInput{
		Cluster: aws.String(d.opts.Cluster), Services: []string{name},
	})
	if err != nil {
		return nil, fmt.Errorf("describe service %s in cluster %s: %w", name, d.opts.Cluster, err)
	}
	for i := range out.Services {
		if aws.ToString(out.Services[i].ServiceName) == name && aws.ToString(out.Services[i].Status) != "INACTIVE" {
			return &out.Services[i], nil
		}
	}
	return nil, fmt.Errorf("service %s not found in cluster %s: create it with a load balancer on target group %s first (see docs/ecs.md)",
		name, d.opts.Cluster, d.opts.TargetGroups[s])
}

// healthy lists the healthy targets (ip:port) of slot's target group.
func (d *Driver) healthy(ctx context.Context, s slot.Slot) ([]string, error) {
	tg := d.opts.TargetGroups[s]
	out, err := d.elb.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(tg)})
	if err != nil {
		return nil, fmt.Errorf("target health of %s: %w", tg, err)
	}
	var addrs []string
	for _, th := range out.TargetHealthDescriptions {
		if th.Target == nil || th.TargetHealth == nil || th.TargetHealth.State != elbtypes.TargetHealthStateEnumHealthy {
			continue
		}
		addr := aws.ToString(th.Target.Id)
		if th.Target.Port != nil {
			addr += ":" + strconv.Itoa(int(*th.Target.Port))
		}
		addrs = append(addrs, addr)
	}
	return addrs, nil
}

func (d *Driver) addresses(ctx context.Context, s slot.Slot) ([]string, error) {
	return d.healthy(ctx, s)
}

// errNoContainer is revision's error when the family has no container
// named Options.Container.
var errNoContainer = errors.New("no such container")
