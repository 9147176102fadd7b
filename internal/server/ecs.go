package server

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
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
	afterWrite, err := ecsCrashAfterWrite(os.Getenv(ecsCrashEnv), slog.Default())
	if err != nil {
		return ecsRuntime{}, err
	}
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
		AfterWrite:   afterWrite,
	})
	if err != nil {
		return ecsRuntime{}, err
	}
	return ecsRuntime{d}, nil
}

// ecsCrashEnv names the ecs driver's fault-injection switch for the
// crash-safety test: BLUEGREEN_FAULT_ECS_CRASH_AFTER_WRITE=N makes serve
// kill itself with SIGKILL right after the Nth ModifyListener of the
// production listener (counted from serve's start) returns success —
// the listener written, nothing about it persisted after, as a power cut
// would. Never set it in production.
const ecsCrashEnv = "BLUEGREEN_FAULT_ECS_CRASH_AFTER_WRITE"

// ecsCrashAfterWrite is the driver's AfterWrite for the switch's value
// (nil when it is unset).
func ecsCrashAfterWrite(v string, log *slog.Logger) (func(string, map[slot.Slot]int), error) {
	if v == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return nil, fmt.Errorf("%s=%q: want the number of production listener writes after which serve kills itself, from 1", ecsCrashEnv, v)
	}
	log.Warn("fault injection on: serve will SIGKILL itself after a listener write", "env", ecsCrashEnv, "writes", n)
	var count atomic.Int64
	return func(listener string, w map[slot.Slot]int) {
		if count.Add(1) != int64(n) {
			return
		}
		log.Warn("fault injection: SIGKILL now, the listener written", "listener", listener, "weights", w, "write", n)
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	}, nil
}

// ecsAnalysis is the analysis the controller applies to bluegreen's own
// router measurements with the ecs driver. Production traffic goes
// through the ALB, not bluegreen's router, which measures nothing: when
// a cloudwatch provider judges the rules on the target groups' metrics
// (it has them and min_requests from the config), the router's part has
// no rule and no minimum, so that its empty window passes and the
// provider's verdict decides. Without a cloudwatch provider a is kept.
func ecsAnalysis(a *config.Analysis) *config.Analysis {
	if a == nil {
		return nil
	}
	for _, p := range a.Providers {
		if p.Kind() == config.ProviderCloudWatch {
			b := *a
			b.Rules, b.MinRequests = nil, 0
			return &b
		}
	}
	return a
}
