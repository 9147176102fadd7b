package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/api"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// Status reports the route in force, the slots and the active (or last)
// deployment.
func (c *Controller) Status(ctx context.Context) (api.Status, error) {
	st := api.Status{App: c.app}
	live, weights := c.router.Route()
	st.Route = api.Route{Live: live, Weights: map[slot.Slot]int{slot.Blue: weights[slot.Blue], slot.Green: weights[slot.Green]}}
	slots, err := c.loadSlots(ctx)
	if err != nil {
		return api.Status{}, fmt.Errorf("status of %s: %w", c.app, err)
	}
	for _, name := range slot.All() {
		s := slots[name]
		h, t := c.router.SlotReady(name)
		st.Slots = append(st.Slots, api.SlotStatus{
			Slot: name, Version: s.Version, State: s.State, Live: live == name,
			Weight: st.Route.Weights[name], Healthy: h, Total: t, StopAt: s.StopAt,
		})
	}
	d, err := c.store.ActiveDeployment(ctx, c.app)
	switch {
	case err == nil:
		ds := c.deploymentStatus(d)
		st.Active = &ds
	case errors.Is(err, store.ErrNotFound):
		list, err := c.store.ListDeployments(ctx, c.app, 1)
		if err != nil {
			return api.Status{}, fmt.Errorf("status of %s: %w", c.app, err)
		}
		if len(list) > 0 {
			ds := c.deploymentStatus(list[0])
			st.Last = &ds
		}
	default:
		return api.Status{}, fmt.Errorf("status of %s: %w", c.app, err)
	}
	return st, nil
}

// deploymentStatus describes d at the clock's now.
func (c *Controller) deploymentStatus(d store.Deployment) api.DeploymentStatus {
	ds := api.DeploymentStatus{
		ID: d.ID, Kind: d.Kind, Version: d.Version, Slot: d.Slot, FromVersion: d.FromVersion,
		Strategy: d.Strategy, Phase: Phase(d.Phase), PausedIn: Phase(d.Paused), Step: d.Step,
		Weight: d.Weight, Deadline: d.Deadline, Reason: d.Reason, CreatedAt: d.CreatedAt, EndedAt: d.EndedAt,
	}
	if plan, err := steps(d.Strategy); err == nil {
		ds.Steps = len(plan)
	}
	x, err := readDetails(d)
	if err != nil {
		c.log.Warn("status: unreadable deployment data", logDeploymentID, d.ID, "error", err)
	}
	ds.Report, ds.Failure = x.Report, x.Failure
	if x.Analysis != nil {
		ds.Analysis = &x.Analysis.Verdict
	}
	var left time.Duration
	timed := true
	switch {
	case Phase(d.Phase) == PhasePaused:
		left = x.remaining()
	case !d.Deadline.IsZero() && d.Active:
		left = max(0, d.Deadline.Sub(c.clock.Now()))
	default:
		timed = false
	}
	if timed {
		ds.TimeLeft, ds.TimeLeftSeconds = left.Round(time.Second).String(), left.Seconds()
	}
	return ds
}
