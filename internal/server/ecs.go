package server

import (
	"context"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/config"
	ecsdriver "github.com/bluegreen-dev/bluegreen/internal/driver/ecs"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// ecsRuntime is the ecs driver: what runs is what ECS says runs. Its
// Listener is the controller's Router (newController).
type ecsRuntime struct{ *ecsdriver.Driver }

var _ runtime = ecsRuntime{}

// Instances is nil: a slot's instances are its service's tasks.
func (ecsRuntime) Instances(slot.Slot) any { return nil }

// Close does nothing: the services keep running without bluegreen.
func (ecsRuntime) Close(context.Context) error { return nil }

// ecsLoadTimeout bounds loading the AWS configuration (the default chain
// may ask the instance metadata service).
const ecsLoadTimeout = 30 * time.Second

// newECSRuntime builds the ecs driver from driver.ecs, with credentials
// and region from the AWS SDK's default chain.
func newECSRuntime(cfg *config.Config) (ecsRuntime, error) {
	e := cfg.Driver.ECS
	blue, green := e.ServiceNames()
	ctx, cancel := context.WithTimeout(context.Background(), ecsLoadTimeout)
	defer cancel()
	d, err := ecsdriver.New(ctx, ecsdriver.Options{
		Region:       e.Region,
		Cluster:      e.Cluster,
		Services:     map[slot.Slot]string{slot.Blue: blue, slot.Green: green},
		TargetGroups: map[slot.Slot]string{slot.Blue: e.TargetGroups.Blue, slot.Green: e.TargetGroups.Green},
		Family:       e.TaskFamily,
		Container:    e.Container,
		Image:        e.Image,
		DesiredCount: int32(e.Count()),
		MinHealthy:   e.Healthy(),
		Listener:     e.Listener,
		TestListener: e.TestListener,
		Endpoint:     e.Endpoint,
	})
	if err != nil {
		return ecsRuntime{}, err
	}
	return ecsRuntime{d}, nil
}
