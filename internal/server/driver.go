package server

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/deploy"
	"github.com/bluegreen-dev/bluegreen/internal/driver/process"
	"github.com/bluegreen-dev/bluegreen/internal/driver/static"
	"github.com/bluegreen-dev/bluegreen/internal/migrate"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// staticVersion labels what runs in a static slot before any deployment:
// the operator runs it, bluegreen does not know its version.
const staticVersion = "static"

// runtime is a driver as the server uses it: the controller's Runtime
// (Start, Stop, Running, Stuck) plus what status and shutdown need.
type runtime interface {
	deploy.Runtime
	// Instances describes the slot's instances for status (JSON-encodable).
	Instances(sl slot.Slot) any
	// Close stops everything the driver started (normal stop).
	Close(ctx context.Context) error
}

// newRuntime builds the configured driver.
func newRuntime(cfg *config.Config, log *slog.Logger) (runtime, error) {
	switch cfg.Driver.Kind {
	case config.DriverStatic:
		return staticRuntime{static.New(cfg.Driver.Static.Blue, cfg.Driver.Static.Green)}, nil
	case config.DriverProcess:
		p := cfg.Driver.Process
		stateDir := filepath.Join(cfg.Path(".bluegreen"), "run")
		if !cfg.StateIsPostgres() {
			stateDir = filepath.Join(filepath.Dir(cfg.StatePath()), "run")
		}
		d, err := process.New(process.Options{
			Command:     p.Command,
			Env:         p.Env,
			Schema:      func(version string) string { return migrate.SchemaName(cfg.App, version) },
			Instances:   p.Instances,
			StopTimeout: p.StopTimeout.D(),
			Dir:         cfg.ProcessDir(),
			LogDir:      cfg.LogDir(),
			StateDir:    stateDir,
			Logger:      log,
		})
		if err != nil {
			return nil, fmt.Errorf("process driver: %w", err)
		}
		return processRuntime{d}, nil
	case config.DriverKubernetes:
		k, err := newKubeRuntime(cfg)
		if err != nil {
			return nil, err
		}
		return k, nil
	case config.DriverECS:
		e, err := newECSRuntime(cfg)
		if err != nil {
			return nil, err
		}
		return e, nil
	default:
		return nil, fmt.Errorf("driver.kind %q: want process or static", cfg.Driver.Kind)
	}
}

var (
	_ runtime = staticRuntime{}
	_ runtime = processRuntime{}
)

// staticRuntime is the static driver: what runs in a slot is always its
// configured addresses.
type staticRuntime struct{ *static.Driver }

func (staticRuntime) Instances(slot.Slot) any { return nil }
func (r staticRuntime) Running(sl slot.Slot) []string {
	addrs, err := r.Start(context.Background(), sl, staticVersion)
	if err != nil {
		return nil
	}
	return addrs
}
func (staticRuntime) Close(context.Context) error { return nil }

// Stuck is always "": the operator runs the static backends.
func (staticRuntime) Stuck(context.Context, slot.Slot) (string, error) { return "", nil }

// processRuntime is the process driver: what runs is what its records
// say runs.
type processRuntime struct{ *process.Driver }

func (p processRuntime) Instances(sl slot.Slot) any { return p.Driver.Instances(sl) }

func (p processRuntime) Running(sl slot.Slot) []string {
	var addrs []string
	for _, in := range p.Driver.Instances(sl) {
		if in.State == process.StateRunning {
			addrs = append(addrs, in.Addr)
		}
	}
	return addrs
}

// crashLoop is how many times an instance's process may exit on its own
// before the slot counts as unable to start.
const crashLoop = 3

// Stuck says so when an instance of sl exited crashLoop times or more and
// is waiting to restart again: the release cannot start.
func (p processRuntime) Stuck(_ context.Context, sl slot.Slot) (string, error) {
	for _, in := range p.Driver.Instances(sl) {
		if in.State == process.StateRestarting && in.Restarts >= crashLoop {
			return fmt.Sprintf("instance %d exited %d times (last: %s); its output is in %s",
				in.N, in.Restarts, in.LastExit, in.Log), nil
		}
	}
	return "", nil
}
