package ecs

import (
	"context"
	"fmt"
	"maps"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// revision is the ARN of a task definition of the family whose container
// runs image: the service's own, or the family's latest, when it already
// has image; otherwise a new revision registered from the family's latest
// with the container's image set to image and its VersionLabel to
// version.
func (d *Driver) revision(ctx context.Context, svc *ecstypes.Service, image, version string) (string, error) {
	if cur := aws.ToString(svc.TaskDefinition); cur != "" {
		td, err := d.taskDefinition(ctx, cur)
		if err != nil {
			return "", err
		}
		if aws.ToString(td.Family) == d.opts.Family && d.runs(td, image) {
			return aws.ToString(td.TaskDefinitionArn), nil
		}
	}
	latest, err := d.taskDefinition(ctx, d.opts.Family)
	if err != nil {
		return "", err
	}
	if d.runs(latest, image) {
		return aws.ToString(latest.TaskDefinitionArn), nil
	}
	in, err := d.nextRevision(latest, image, version)
	if err != nil {
		return "", err
	}
	out, err := d.ecs.RegisterTaskDefinition(ctx, in)
	if err != nil {
		return "", fmt.Errorf("register a revision of %s with %s: %w", d.opts.Family, image, err)
	}
	return aws.ToString(out.TaskDefinition.TaskDefinitionArn), nil
}

func (d *Driver) taskDefinition(ctx context.Context, ref string) (*ecstypes.TaskDefinition, error) {
	out, err := d.ecs.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(ref)})
	if err != nil {
		return nil, fmt.Errorf("describe task definition %s: %w", ref, err)
	}
	if out.TaskDefinition == nil {
		return nil, fmt.Errorf("describe task definition %s: empty answer", ref)
	}
	return out.TaskDefinition, nil
}

// container is the container the driver changes: Options.Container, or
// the first; nil when there is none.
func (d *Driver) container(td *ecstypes.TaskDefinition) *ecstypes.ContainerDefinition {
	for i := range td.ContainerDefinitions {
		if d.opts.Container == "" || aws.ToString(td.ContainerDefinitions[i].Name) == d.opts.Container {
			return &td.ContainerDefinitions[i]
		}
	}
	return nil
}

func (d *Driver) runs(td *ecstypes.TaskDefinition, image string) bool {
	c := d.container(td)
	return c != nil && aws.ToString(c.Image) == image
}

// nextRevision is the RegisterTaskDefinition input that copies td with the
// container's image and version label changed. Tags are not copied (that
// would need ecs:TagResource).
func (d *Driver) nextRevision(td *ecstypes.TaskDefinition, image, version string) (*ecs.RegisterTaskDefinitionInput, error) {
	defs := make([]ecstypes.ContainerDefinition, len(td.ContainerDefinitions))
	copy(defs, td.ContainerDefinitions)
	found := false
	for i := range defs {
		if d.opts.Container == "" && i > 0 {
			break
		}
		if d.opts.Container != "" && aws.ToString(defs[i].Name) != d.opts.Container {
			continue
		}
		defs[i].Image = aws.String(image)
		labels := maps.Clone(defs[i].DockerLabels)
		if labels == nil {
			labels = map[string]string{}
		}
		labels[VersionLabel] = version
		defs[i].DockerLabels = labels
		found = true
		break
	}
	if !found {
		return nil, fmt.Errorf("%w %q in task definition %s (driver.ecs.container)", errNoContainer, d.opts.Container, aws.ToString(td.TaskDefinitionArn))
	}
	return &ecs.RegisterTaskDefinitionInput{
		Family:                  td.Family,
		ContainerDefinitions:    defs,
		Cpu:                     td.Cpu,
		Memory:                  td.Memory,
		NetworkMode:             td.NetworkMode,
		RequiresCompatibilities: td.RequiresCompatibilities,
		ExecutionRoleArn:        td.ExecutionRoleArn,
		TaskRoleArn:             td.TaskRoleArn,
		Volumes:                 td.Volumes,
		PlacementConstraints:    td.PlacementConstraints,
		ProxyConfiguration:      td.ProxyConfiguration,
		EphemeralStorage:        td.EphemeralStorage,
		RuntimePlatform:         td.RuntimePlatform,
		IpcMode:                 td.IpcMode,
		PidMode:                 td.PidMode,
		EnableFaultInjection:    td.EnableFaultInjection,
	}, nil
}
