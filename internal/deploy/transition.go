package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/api"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// move builds the next revision of d in phase to, checked against the
// transitions table, with the event that announces it. change edits the
// new revision (weight, step, deadline, data) before the event is written;
// the event's data carries the resulting weight and step plus extra.
func (c *Controller) move(d store.Deployment, to Phase, reason string, extra map[string]any, change func(*store.Deployment, *details)) (store.Deployment, store.Event, error) {
	from := Phase(d.Phase)
	if !canMove(from, to) {
		return d, store.Event{}, fmt.Errorf("move deployment %d from %s to %s: %w", d.ID, from, to, ErrNotAllowed)
	}
	x, err := readDetails(d)
	if err != nil {
		return d, store.Event{}, err
	}
	now := c.clock.Now()
	d.Phase, d.Active, d.Reason = string(to), !to.Terminal(), reason
	if change != nil {
		change(&d, &x)
	}
	if to.Terminal() {
		d.EndedAt, d.Deadline, d.Paused, x.Request = now, time.Time{}, "", nil
	}
	if err := x.write(&d); err != nil {
		return d, store.Event{}, err
	}
	data := map[string]any{"weight": d.Weight, "step": d.Step, "slot": d.Slot}
	maps.Copy(data, extra)
	raw, err := json.Marshal(data)
	if err != nil {
		return d, store.Event{}, fmt.Errorf("move deployment %d to %s: event data: %w", d.ID, to, err)
	}
	return d, store.Event{DeploymentID: d.ID, Time: now, Phase: string(to), Reason: reason, Data: raw}, nil
}

// commit writes next (conditional on its Rev: store.ErrConflict if someone
// else wrote first) with ev, then announces it and makes *d the new
// revision. ev may be the zero Event for a change that is not a transition.
func (c *Controller) commit(ctx context.Context, d *store.Deployment, next store.Deployment, ev store.Event) error {
	var evp *store.Event
	if !ev.IsZero() {
		evp = &ev // the store fills in its id
	}
	if err := c.store.Transition(ctx, &next, evp); err != nil {
		return fmt.Errorf("write deployment %d of %s (phase %s): %w", d.ID, c.app, next.Phase, err)
	}
	from := d.Phase
	*d = next
	if ev.IsZero() {
		return nil
	}
	c.win.Store(nil) // a new phase or step: a new analysis window
	c.announce(ev, from)
	return nil
}

// announce logs, counts and publishes a persisted event.
func (c *Controller) announce(ev store.Event, from string) {
	c.setPhaseGauge(Phase(ev.Phase))
	c.events.publish(ev)
	c.log.Info("deployment "+ev.Phase, logDeploymentID, ev.DeploymentID, logPhase, ev.Phase,
		"from", from, "reason", ev.Reason, "data", string(ev.Data))
	if c.afterEvent != nil {
		c.afterEvent(ev)
	}
}

// transition moves d to phase to in the store (see move and commit).
func (c *Controller) transition(ctx context.Context, d *store.Deployment, to Phase, reason string, extra map[string]any, change func(*store.Deployment, *details)) error {
	next, ev, err := c.move(*d, to, reason, extra, change)
	if err != nil {
		return err
	}
	return c.commit(ctx, d, next, ev)
}

// setPhaseGauge makes bluegreen_deployment_phase 1 for p, 0 for the rest.
func (c *Controller) setPhaseGauge(p Phase) {
	for _, q := range api.Phases() {
		v := 0.0
		if q == p {
			v = 1
		}
		c.phaseGauge.WithLabelValues(string(q)).Set(v)
	}
}
