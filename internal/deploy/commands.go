package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// Deployment kinds (store.Deployment.Kind).
const (
	KindDeploy   = "deploy"   // a new release
	KindRollback = "rollback" // back to the release before the last success
)

// Commands write the store only: conditional writes (retried on
// store.ErrConflict after reading again), then a wake-up for the reconcile
// loop, which alone touches the runtime, the router and the route.

// Deploy records a deployment of version into the idle slot with strategy
// (the default if empty) and wakes the loop; it returns the pending
// deployment without waiting. With nothing live yet (the first release) it
// deploys into the slot the route table calls idle (so the preview route
// reaches it), which goes live at 100% once healthy and verified: there is
// no old slot to shift from. It returns store.ErrActiveDeployment,
// naming the active deployment, if one is active; ErrInvalid for a bad
// version or strategy; ErrNotAllowed if the idle slot still gets traffic
// (routed by hand).
func (c *Controller) Deploy(ctx context.Context, version, strategy string) (store.Deployment, error) {
	op := fmt.Sprintf("deploy %s of %s", version, c.app)
	if err := checkVersion(version); err != nil {
		return store.Deployment{}, fmt.Errorf("deploy %q of %s: %w: %w", version, c.app, ErrInvalid, err)
	}
	st := c.strategy
	if strategy != "" {
		var err error
		if st, err = config.ParseStrategy(strategy); err != nil {
			return store.Deployment{}, fmt.Errorf("%s: %w: %w", op, ErrInvalid, err)
		}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	// An active deployment is the first thing to report: it explains any
	// other refusal (such as traffic on the idle slot while it shifts).
	switch active, err := c.store.ActiveDeployment(ctx, c.app); {
	case err == nil:
		return store.Deployment{}, fmt.Errorf("%s: %w: deployment %d of %s (phase %s)",
			op, store.ErrActiveDeployment, active.ID, active.Version, active.Phase)
	case !errors.Is(err, store.ErrNotFound):
		return store.Deployment{}, fmt.Errorf("%s: %w", op, err)
	}
	route, routed, err := c.loadRoute(ctx)
	if err != nil {
		return store.Deployment{}, fmt.Errorf("%s: %w", op, err)
	}
	slots, err := c.loadSlots(ctx)
	if err != nil {
		return store.Deployment{}, fmt.Errorf("%s: %w", op, err)
	}
	d := store.Deployment{
		App: c.app, Kind: KindDeploy, Version: version, Strategy: st.String(),
		Phase: string(PhasePending), Active: true,
	}
	var reason string
	if live := route.Live; routed && live.Valid() && slots[live].State == slot.Running && slots[live].Version != "" {
		d.Slot, d.FromVersion = live.Other(), slots[live].Version
		if w := route.Weights[d.Slot]; w > 0 {
			return store.Deployment{}, fmt.Errorf("%s: %w: the idle slot %s still gets %d%% of traffic; route everything to %s first",
				op, ErrNotAllowed, d.Slot, w, live)
		}
		reason = fmt.Sprintf("deploy %s into %s (%s is live on %s) with %s", version, d.Slot, d.FromVersion, live, d.Strategy)
	} else {
		d.Slot = firstSlot(route, routed, c.router)
		reason = fmt.Sprintf("deploy %s into %s: the first release, live at 100%% once healthy and verified", version, d.Slot)
	}
	ev, err := pendingEvent(c.clock.Now(), reason, map[string]any{"steps": len(st.Steps())})
	if err != nil {
		return store.Deployment{}, fmt.Errorf("%s: %w", op, err)
	}
	if err := c.store.CreateDeployment(ctx, &d, &ev); err != nil {
		return store.Deployment{}, fmt.Errorf("%s: %w", op, err)
	}
	c.announce(ev, "")
	c.poke()
	return d, nil
}

// checkVersion accepts a release label that every driver can use in
// paths and names: letters, digits and - _ . +, not starting with a dot,
// at most 128 characters.
func checkVersion(v string) error {
	if v == "" || len(v) > 128 || strings.HasPrefix(v, ".") {
		return fmt.Errorf("version %q: use 1 to 128 characters, not starting with a dot", v)
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == '+') {
			return fmt.Errorf("version %q: only letters, digits and - _ . + are allowed", v)
		}
	}
	return nil
}

// firstSlot is where the first release goes: the slot the route table in
// force calls idle, because the preview route (which verifying checks
// through) always reaches the idle slot. Blue when no table says.
func firstSlot(route store.Route, routed bool, r Router) slot.Slot {
	live := route.Live
	if !routed || !live.Valid() {
		live, _ = r.Route()
	}
	if live.Valid() {
		return live.Other()
	}
	return slot.Blue
}

// pendingEvent is the first event of a deployment.
func pendingEvent(now time.Time, reason string, extra map[string]any) (store.Event, error) {
	data := map[string]any{"weight": 0, "step": 0}
	for k, v := range extra {
		data[k] = v
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return store.Event{}, fmt.Errorf("event data: %w", err)
	}
	return store.Event{Time: now, Phase: string(PhasePending), Reason: reason, Data: raw}, nil
}

// Pause freezes a deployment in shifting or baking: traffic stays where it
// is and the time left in the step is stored, to be used on Resume.
func (c *Controller) Pause(ctx context.Context) error {
	_, err := c.command(ctx, "pause deployment of "+c.app, func(d store.Deployment) (*store.Deployment, store.Event, error) {
		p := Phase(d.Phase)
		if p != PhaseShifting && p != PhaseBaking {
			return nil, store.Event{}, fmt.Errorf("%w: it is %s; only shifting or baking can be paused", ErrNotAllowed, p)
		}
		left := max(0, d.Deadline.Sub(c.clock.Now()))
		next, ev, err := c.move(d, PhasePaused, fmt.Sprintf("paused by a person in %s with %s left", p, left.Round(time.Second)),
			map[string]any{"remaining_seconds": left.Seconds()},
			func(n *store.Deployment, x *details) {
				n.Paused, n.Deadline, x.Remaining = string(p), time.Time{}, left.String()
			})
		return &next, ev, err
	})
	return err
}

// Resume continues a paused deployment in the phase it was paused in, with
// the time that was left in its step.
func (c *Controller) Resume(ctx context.Context) error {
	_, err := c.command(ctx, "resume deployment of "+c.app, func(d store.Deployment) (*store.Deployment, store.Event, error) {
		if p := Phase(d.Phase); p != PhasePaused {
			return nil, store.Event{}, fmt.Errorf("%w: it is %s, not paused", ErrNotAllowed, p)
		}
		to := Phase(d.Paused)
		if to != PhaseShifting && to != PhaseBaking {
			return nil, store.Event{}, fmt.Errorf("paused in %q, which cannot be resumed", d.Paused)
		}
		x, err := readDetails(d)
		if err != nil {
			return nil, store.Event{}, err
		}
		left := x.remaining()
		next, ev, err := c.move(d, to, fmt.Sprintf("resumed by a person: %s with %s left", to, left.Round(time.Second)),
			map[string]any{"remaining_seconds": left.Seconds()},
			func(n *store.Deployment, x *details) {
				n.Paused, n.Deadline, x.Remaining = "", c.clock.Now().Add(left), ""
			})
		return &next, ev, err
	})
	return err
}

// Promote skips the remaining steps and the bake time: the deployment goes
// through 100% on the new slot to succeeded. It waits until the loop has
// done it (or ctx ends).
func (c *Controller) Promote(ctx context.Context) error {
	op := "promote deployment of " + c.app
	d, err := c.command(ctx, op, func(d store.Deployment) (*store.Deployment, store.Event, error) {
		switch p := Phase(d.Phase); p {
		case PhaseShifting, PhaseBaking, PhasePaused:
		default:
			return nil, store.Event{}, fmt.Errorf("%w: it is %s; promote needs shifting, baking or paused", ErrNotAllowed, p)
		}
		plan, err := steps(d.Strategy)
		if err != nil {
			return nil, store.Event{}, err
		}
		next, ev, err := c.move(d, PhaseBaking, "promoted by a person: remaining steps and bake time skipped", nil,
			func(n *store.Deployment, x *details) {
				n.Step, n.Weight, n.TrafficMoved = len(plan)-1, 100, true
				n.Paused, n.Deadline, x.Remaining, x.Promoted = "", c.clock.Now(), "", true
			})
		return &next, ev, err
	})
	if err != nil {
		return err
	}
	if err := c.await(ctx, d.ID, Phase.Terminal); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// Abort stops the active deployment from any phase: traffic goes back 100%
// to the old slot and the new release is stopped; the phase ends aborted.
// It waits until the loop has done it (or ctx ends).
func (c *Controller) Abort(ctx context.Context) error {
	op := "abort deployment of " + c.app
	d, err := c.command(ctx, op, func(d store.Deployment) (*store.Deployment, store.Event, error) {
		p := Phase(d.Phase)
		if p == PhaseRollingBack {
			return nil, store.Event{}, fmt.Errorf("%w: it is already rolling back", ErrNotAllowed)
		}
		reason := fmt.Sprintf("aborted by a person during %s", p)
		if d.FromVersion != "" {
			reason += fmt.Sprintf("; traffic back on %s (%s)", d.Slot.Other(), d.FromVersion)
		}
		return c.record(d, request{Kind: requestAbort, Reason: reason})
	})
	if err != nil {
		return err
	}
	if err := c.await(ctx, d.ID, Phase.Terminal); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// Fail ends the active deployment because something judged it bad (the
// analysis, a failure hook): after traffic moved it rolls back
// (rolling_back → rolled_back, the same effect as abort); before, it fails
// (failed, new release stopped). reason and data (a JSON object, may be
// nil) are recorded. It does not wait; calling it again while the
// deployment is already ending does nothing.
func (c *Controller) Fail(ctx context.Context, reason string, data json.RawMessage) error {
	op := "fail deployment of " + c.app
	if reason == "" {
		reason = "failed"
	}
	if len(data) > 0 && !json.Valid(data) {
		return fmt.Errorf("%s: %w: data is not JSON", op, ErrInvalid)
	}
	_, err := c.command(ctx, op, func(d store.Deployment) (*store.Deployment, store.Event, error) {
		x, err := readDetails(d)
		if err != nil {
			return nil, store.Event{}, err
		}
		if Phase(d.Phase) == PhaseRollingBack || x.Request != nil {
			return nil, store.Event{}, nil
		}
		if !d.TrafficMoved {
			return c.record(d, request{Kind: requestFail, Reason: reason, Data: data})
		}
		var extra map[string]any
		if len(data) > 0 {
			extra = map[string]any{"failure": data}
		}
		next, ev, err := c.move(d, PhaseRollingBack, reason, extra, func(n *store.Deployment, x *details) {
			n.Paused, n.Deadline, x.Remaining, x.Failure = "", time.Time{}, "", data
		})
		return &next, ev, err
	})
	return err
}

// record stores a request for the loop in d, with no event (the loop's
// transition carrying it out is the event). A request of the same kind
// already recorded is left as is.
func (c *Controller) record(d store.Deployment, r request) (*store.Deployment, store.Event, error) {
	x, err := readDetails(d)
	if err != nil {
		return nil, store.Event{}, err
	}
	if x.Request != nil && x.Request.Kind == r.Kind {
		return nil, store.Event{}, nil
	}
	x.Request = &r
	if err := x.write(&d); err != nil {
		return nil, store.Event{}, err
	}
	return &d, store.Event{}, nil
}

// command applies change to the active deployment with a conditional
// write, reading again on store.ErrConflict, then wakes the loop. change
// returns the revision to write (nil: nothing to write) and its event. It
// returns the deployment as written (or as read, if nothing was).
func (c *Controller) command(ctx context.Context, op string, change func(store.Deployment) (*store.Deployment, store.Event, error)) (store.Deployment, error) {
	for attempt := 0; ; attempt++ {
		d, err := c.store.ActiveDeployment(ctx, c.app)
		if errors.Is(err, store.ErrNotFound) {
			return store.Deployment{}, fmt.Errorf("%s: %w", op, ErrNoActiveDeployment)
		}
		if err != nil {
			return store.Deployment{}, fmt.Errorf("%s: %w", op, err)
		}
		next, ev, err := change(d)
		if err != nil {
			return store.Deployment{}, fmt.Errorf("%s: deployment %d: %w", op, d.ID, err)
		}
		if next == nil {
			c.poke()
			return d, nil
		}
		err = c.commit(ctx, &d, *next, ev)
		if errors.Is(err, store.ErrConflict) && attempt < maxConflictRetries {
			continue
		}
		if err != nil {
			return store.Deployment{}, fmt.Errorf("%s: %w", op, err)
		}
		c.poke()
		return d, nil
	}
}
