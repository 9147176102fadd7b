package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// facts is what one pass reads from the store before it decides.
type facts struct {
	now    time.Time
	active *store.Deployment // nil: no active deployment
	route  store.Route
	routed bool // a route was ever stored
	slots  map[slot.Slot]store.SlotState
}

// serving reports whether slot is live or gets traffic in the stored route.
func (f facts) serving(sl slot.Slot) bool {
	return f.routed && (f.route.Live == sl || f.route.Weights[sl] > 0)
}

// reconcile is one level-triggered pass: read the facts, observe the world,
// do at most one side effect, persist, return when to come back (zero:
// only when a command wakes the loop). Every step is safe to run again: a
// pass killed half way is finished by the next one, here or after a
// restart.
func (c *Controller) reconcile(ctx context.Context) (time.Time, error) {
	f, err := c.observe(ctx)
	if err != nil {
		return time.Time{}, err
	}
	// Cancel the work beside the loop that the facts no longer call for.
	c.sweep(f)
	// Stop what should no longer run (scale-down, ended deployments).
	acted, stopDue, err := c.tidySlots(ctx, f)
	if acted || err != nil {
		return f.now, err
	}
	// Unless a deployment moves traffic, the route in force is the stored one.
	if f.active == nil || !ownsRoute(Phase(f.active.Phase)) {
		if err := c.syncRoute(ctx); err != nil {
			return time.Time{}, err
		}
	}
	if f.active == nil {
		c.aimSynthetic(nil)
		return stopDue, nil
	}
	// One step of the active deployment.
	d := *f.active
	next, err := c.advance(ctx, f, &d)
	c.settle(d)
	c.aimSynthetic(&d)
	return earliest(next, stopDue), err
}

// observe reads the facts of one pass.
func (c *Controller) observe(ctx context.Context) (facts, error) {
	f := facts{now: c.clock.Now()}
	d, err := c.store.ActiveDeployment(ctx, c.app)
	switch {
	case err == nil:
		if !Phase(d.Phase).Valid() {
			return f, fmt.Errorf("deployment %d of %s has unknown phase %q", d.ID, c.app, d.Phase)
		}
		f.active = &d
	case !errors.Is(err, store.ErrNotFound):
		return f, err
	}
	if f.route, f.routed, err = c.loadRoute(ctx); err != nil {
		return f, err
	}
	if f.slots, err = c.loadSlots(ctx); err != nil {
		return f, err
	}
	return f, nil
}

// advance does the one step the active deployment's phase calls for: the
// table of contents of the lifecycle.
func (c *Controller) advance(ctx context.Context, f facts, d *store.Deployment) (time.Time, error) {
	x, err := readDetails(*d)
	if err != nil {
		return time.Time{}, err
	}
	if x.Request != nil && Phase(d.Phase) != PhaseRollingBack {
		return c.carryOut(ctx, f, d, *x.Request)
	}
	if !d.TrafficMoved {
		c.watchLive(d, f.now) // a baseline for rules that compare with live
	}
	switch Phase(d.Phase) {
	case PhasePending:
		return c.begin(ctx, f, d)
	case PhaseProvisioning:
		return c.provision(ctx, f, d)
	case PhaseWaitingReady:
		return c.awaitReady(ctx, f, d)
	case PhaseVerifying:
		return c.verify(ctx, f, d)
	case PhaseShifting:
		return c.shift(ctx, f, d)
	case PhaseBaking:
		return c.bake(ctx, f, d)
	case PhasePaused:
		return c.hold(ctx, d)
	case PhaseRollingBack:
		return c.windDown(ctx, f, d, PhaseRolledBack, fmt.Sprintf("traffic back on %s (%s); %s (%s) stopping",
			d.Slot.Other(), d.FromVersion, d.Slot, d.Version), nil, nil)
	case PhaseSucceeded, PhaseFailed, PhaseAborted, PhaseRolledBack:
	}
	return time.Time{}, fmt.Errorf("deployment %d of %s is active in phase %s", d.ID, c.app, d.Phase)
}

// carryOut performs a command the API recorded (abort, or a failure before
// traffic moved).
func (c *Controller) carryOut(ctx context.Context, f facts, d *store.Deployment, r request) (time.Time, error) {
	switch r.Kind {
	case requestAbort:
		return c.windDown(ctx, f, d, PhaseAborted, r.Reason, nil, nil)
	case requestFail:
		var extra map[string]any
		if len(r.Data) > 0 {
			extra = map[string]any{"failure": r.Data}
		}
		return c.windDown(ctx, f, d, PhaseFailed, r.Reason, extra, func(_ *store.Deployment, x *details) {
			x.Failure = r.Data
		})
	}
	return time.Time{}, fmt.Errorf("deployment %d of %s: unknown request %q", d.ID, c.app, r.Kind)
}

// begin leaves pending: a rollback to a warm, healthy slot swaps the route
// at once; everything else starts provisioning, with a deadline.
func (c *Controller) begin(ctx context.Context, f facts, d *store.Deployment) (time.Time, error) {
	if d.Kind == KindRollback {
		s := f.slots[d.Slot]
		if s.State == slot.Running && s.Version == d.Version {
			if h, t := c.router.SlotReady(d.Slot); t > 0 && h == t {
				return c.succeed(ctx, f, d, fmt.Sprintf("rolled back to %s: %s was still warm (%d/%d healthy), route swapped",
					d.Version, d.Slot, h, t), map[string]any{"healthy": h, "total": t}, nil)
			}
		}
	}
	err := c.transition(ctx, d, PhaseProvisioning, fmt.Sprintf("starting %s in %s", d.Version, d.Slot), nil,
		func(n *store.Deployment, _ *details) { n.Deadline = c.clock.Now().Add(c.readyTimeout) })
	return f.now, err
}

// provision makes the runtime run the release in the slot and gives the
// router its backends. A slot still running another release (the old,
// warm one) is stopped first (stop.go), over as many passes as its drain
// takes.
func (c *Controller) provision(ctx context.Context, f facts, d *store.Deployment) (time.Time, error) {
	s := f.slots[d.Slot]
	if s.State != slot.Stopped && s.Version != d.Version {
		next, _, err := c.stopSlot(ctx, f, s, "replaced by "+d.Version)
		return next, err
	}
	starting := store.SlotState{Slot: d.Slot, Version: d.Version, State: slot.Starting, Instances: s.Instances}
	if err := c.saveSlot(ctx, s, starting); err != nil {
		return time.Time{}, err
	}
	addrs, err := c.runtime.Start(ctx, d.Slot, d.Version)
	if err != nil {
		if ctx.Err() != nil || f.now.Before(d.Deadline) {
			return time.Time{}, fmt.Errorf("start %s in slot %s of %s: %w", d.Version, d.Slot, c.app, err)
		}
		return c.windDown(ctx, f, d, PhaseFailed, fmt.Sprintf("could not start %s in %s within %s: %v",
			d.Version, d.Slot, c.readyTimeout, err), nil, nil)
	}
	c.router.SetBackends(d.Slot, addrs, false)
	started := starting
	started.Instances = instancesJSON(addrs)
	if err := c.saveSlot(ctx, starting, started); err != nil {
		return time.Time{}, err
	}
	err = c.transition(ctx, d, PhaseWaitingReady,
		fmt.Sprintf("%d instances of %s started in %s; waiting until healthy", len(addrs), d.Version, d.Slot),
		map[string]any{"instances": len(addrs)},
		func(n *store.Deployment, _ *details) { n.Deadline = c.clock.Now().Add(c.readyTimeout) })
	return f.now, err
}

// awaitReady waits until every instance is healthy, up to the persisted
// deadline. A rollback then swaps the route; a deployment verifies. An
// instance the runtime says cannot start (Stuck) fails it at once, with
// the runtime's reason.
func (c *Controller) awaitReady(ctx context.Context, f facts, d *store.Deployment) (time.Time, error) {
	h, t := c.router.SlotReady(d.Slot)
	nums := map[string]any{"healthy": h, "total": t}
	if t > 0 && h == t {
		s := f.slots[d.Slot]
		ready := s
		ready.State, ready.StopAt, ready.StoppingSince = slot.Running, time.Time{}, time.Time{}
		if err := c.saveSlot(ctx, s, ready); err != nil {
			return time.Time{}, err
		}
		f.slots[d.Slot] = ready
		if d.Kind == KindRollback {
			return c.succeed(ctx, f, d, fmt.Sprintf("rolled back to %s: restarted in %s, healthy (%d/%d), route swapped",
				d.Version, d.Slot, h, t), nums, nil)
		}
		err := c.transition(ctx, d, PhaseVerifying,
			fmt.Sprintf("%s in %s is healthy: %d/%d instances; verifying", d.Version, d.Slot, h, t), nums,
			func(n *store.Deployment, _ *details) { n.Deadline = time.Time{} })
		return f.now, err
	}
	why, err := c.runtime.Stuck(ctx, d.Slot)
	if err != nil {
		c.log.Debug("could not tell whether the release can start; waiting on", logSlot, d.Slot, "error", err)
	}
	if why != "" {
		nums["stuck"] = why
		return c.windDown(ctx, f, d, PhaseFailed, fmt.Sprintf("%s in %s cannot start: %s; no user traffic reached it",
			d.Version, d.Slot, why), nums, nil)
	}
	if !f.now.Before(d.Deadline) {
		return c.windDown(ctx, f, d, PhaseFailed, fmt.Sprintf("%s in %s not ready within %s: %d/%d instances healthy",
			d.Version, d.Slot, c.readyTimeout, h, t), nums, nil)
	}
	return earliest(d.Deadline, f.now.Add(c.poll)), nil
}

// verify judges the release by the checks run through the preview route,
// beside the loop (checks.go): until their outcome is stored it waits, and
// their end wakes it. Nothing has reached users: a failure ends in failed,
// not in a rollback. On success the first release goes live at once, any
// other starts shifting.
func (c *Controller) verify(ctx context.Context, f facts, d *store.Deployment) (time.Time, error) {
	var report json.RawMessage
	if c.verifier != nil {
		x, err := readDetails(*d)
		if err != nil {
			return time.Time{}, err
		}
		if x.Verified == nil {
			return c.checkBeside(ctx, f, *d), nil
		}
		if x.Verified.Error != "" {
			return c.windDown(ctx, f, d, PhaseFailed, fmt.Sprintf("could not verify %s in %s: %s; no user traffic reached it",
				d.Version, d.Slot, x.Verified.Error), nil, nil)
		}
		if !x.Verified.Passed {
			return c.windDown(ctx, f, d, PhaseFailed, fmt.Sprintf("checks failed on %s in %s; no user traffic reached it",
				d.Version, d.Slot), nil, nil)
		}
		report = x.Report
	}
	if d.FromVersion == "" {
		return c.succeed(ctx, f, d, fmt.Sprintf("first release: %s is live on %s with 100%% of traffic", d.Version, d.Slot),
			nil, report)
	}
	plan, err := steps(d.Strategy)
	if err != nil {
		return c.windDown(ctx, f, d, PhaseFailed, fmt.Sprintf("deployment %d: %v", d.ID, err), nil, nil)
	}
	return c.shiftTo(ctx, d, plan, 0, report, nil)
}

// shift holds the current step until its deadline, then moves to the next.
func (c *Controller) shift(ctx context.Context, f facts, d *store.Deployment) (time.Time, error) {
	if changed, err := c.ensureRoute(ctx, splitRoute(d.Slot, d.Weight)); err != nil || changed {
		return d.Deadline, err
	}
	next, moved, x, err := c.judge(ctx, f, d)
	if err != nil || moved || !next.IsZero() {
		return next, err
	}
	plan, err := steps(d.Strategy)
	if err != nil {
		return time.Time{}, fmt.Errorf("deployment %d of %s: %w", d.ID, c.app, err)
	}
	return c.shiftTo(ctx, d, plan, d.Step+1, nil, analysisData(x))
}

// judge holds d in its step until its deadline and, when analysis judges
// it, until a window of the step passed; a failed window rolls back. It
// returns a zero time when d may move on, else when to come back; moved
// when analysis took d out of its phase.
func (c *Controller) judge(ctx context.Context, f facts, d *store.Deployment) (time.Time, bool, details, error) {
	x, err := readDetails(*d)
	if err != nil {
		return time.Time{}, false, x, err
	}
	if !c.analysing(d, x) {
		if f.now.Before(d.Deadline) {
			return d.Deadline, false, x, nil
		}
		return time.Time{}, false, x, nil
	}
	next, moved, err := c.analyse(ctx, f, d, x)
	if err != nil || moved {
		return f.now, moved, x, err
	}
	if x, err = readDetails(*d); err != nil {
		return time.Time{}, false, x, err
	}
	if f.now.Before(d.Deadline) {
		return earliest(d.Deadline, next), false, x, nil
	}
	if !passed(d, x) {
		return next, false, x, nil // the step waits for a window that passes
	}
	return time.Time{}, false, x, nil
}

// shiftTo persists step i of plan (or baking, once it reaches 100%), then
// routes that weight to the new slot. report, if not nil, is stored as the
// verifier's report.
func (c *Controller) shiftTo(ctx context.Context, d *store.Deployment, plan []config.Step, i int, report json.RawMessage, more map[string]any) (time.Time, error) {
	keep := func(x *details) {
		if report != nil {
			x.Report = report
		}
	}
	var err error
	if reachesFull(plan, i) {
		reason, lb, rerr := c.bakeReason(d)
		if rerr != nil {
			return time.Time{}, rerr
		}
		err = c.transition(ctx, d, PhaseBaking, reason,
			withData(map[string]any{"bake_seconds": c.bakeTime.Seconds()}, more),
			func(n *store.Deployment, x *details) {
				n.Step, n.Weight, n.TrafficMoved = min(i, len(plan)-1), 100, true
				n.Deadline = c.clock.Now().Add(c.bakeTime)
				if lb != nil {
					x.LiveBefore = lb
				}
				keep(x)
			})
	} else {
		st := plan[i]
		err = c.transition(ctx, d, PhaseShifting,
			fmt.Sprintf("step %d/%d: %d%% of traffic on %s (%s) for %s", i+1, len(plan), st.Weight, d.Slot, d.Version, st.Hold),
			withData(map[string]any{"steps": len(plan), "hold_seconds": st.Hold.Seconds()}, more),
			func(n *store.Deployment, x *details) {
				n.Step, n.Weight, n.TrafficMoved = i, st.Weight, true
				n.Deadline = c.clock.Now().Add(st.Hold)
				keep(x)
			})
	}
	if err != nil {
		return time.Time{}, err
	}
	if _, err := c.ensureRoute(ctx, splitRoute(d.Slot, d.Weight)); err != nil {
		return time.Time{}, err
	}
	// Come back at once: the step's analysis window starts with the new
	// route.
	return c.clock.Now(), nil
}

// bake keeps 100% on the new slot until the deadline, then succeeds.
func (c *Controller) bake(ctx context.Context, f facts, d *store.Deployment) (time.Time, error) {
	if changed, err := c.ensureRoute(ctx, splitRoute(d.Slot, d.Weight)); err != nil || changed {
		return d.Deadline, err
	}
	if next, acted, err := c.afterPromotion(ctx, f, d); err != nil || acted {
		return next, err
	}
	next, moved, x, err := c.judge(ctx, f, d)
	if err != nil || moved || !next.IsZero() {
		return next, err
	}
	return c.succeed(ctx, f, d, fmt.Sprintf("%s is live on %s", d.Version, d.Slot), analysisData(x), nil)
}

// hold keeps a paused deployment's traffic where it was; only a command
// moves it on.
func (c *Controller) hold(ctx context.Context, d *store.Deployment) (time.Time, error) {
	_, err := c.ensureRoute(ctx, splitRoute(d.Slot, d.Weight))
	return time.Time{}, err
}

// succeed makes the new slot live with 100%: the old slot (if any) stays
// warm until now+ScaleDownDelay, recorded as its StopAt. The route is
// persisted, then the transition, then the route applied.
func (c *Controller) succeed(ctx context.Context, f facts, d *store.Deployment, reason string, extra map[string]any, report json.RawMessage) (time.Time, error) {
	if extra == nil {
		extra = map[string]any{}
	}
	now := c.clock.Now()
	old := d.Slot.Other()
	if os := f.slots[old]; os.State != slot.Stopped && d.FromVersion != "" {
		warm := os
		warm.StopAt = now.Add(c.scaleDownDelay)
		if err := c.saveSlot(ctx, os, warm); err != nil {
			return time.Time{}, err
		}
		extra["scale_down_at"] = warm.StopAt
		reason += fmt.Sprintf("; %s (%s) stays warm for %s", old, os.Version, c.scaleDownDelay)
	}
	ns := f.slots[d.Slot]
	live := ns
	live.Version, live.State, live.StopAt, live.StoppingSince = d.Version, slot.Running, time.Time{}, time.Time{}
	if err := c.saveSlot(ctx, ns, live); err != nil {
		return time.Time{}, err
	}
	_, err := c.switchRoute(ctx, fullRoute(d.Slot), func() error {
		return c.transition(ctx, d, PhaseSucceeded, reason, extra, func(n *store.Deployment, x *details) {
			n.Weight, n.TrafficMoved = 100, true
			if report != nil {
				x.Report = report
			}
		})
	})
	return f.now, err
}

// windDown ends a deployment without promoting it (failed, aborted,
// rolled_back): the new release is marked to stop now (tidySlots stops it
// once the deployment has ended) and traffic goes back 100% to the old
// slot. As in succeed, the route is persisted before the transition and
// applied after it.
func (c *Controller) windDown(ctx context.Context, f facts, d *store.Deployment, to Phase, reason string, extra map[string]any, change func(*store.Deployment, *details)) (time.Time, error) {
	now := c.clock.Now()
	// Only what this deployment started: a slot still holding the previous
	// warm release (not yet replaced) keeps its own schedule.
	if s := f.slots[d.Slot]; s.State != slot.Stopped && s.Version == d.Version {
		stop := s
		stop.StopAt = now
		if err := c.saveSlot(ctx, s, stop); err != nil {
			return time.Time{}, err
		}
	}
	persist := func() error {
		return c.transition(ctx, d, to, reason, extra, func(n *store.Deployment, x *details) {
			n.Weight = 0
			if change != nil {
				change(n, x)
			}
		})
	}
	if d.FromVersion == "" { // nothing was live before: no route to give back
		return f.now, persist()
	}
	old := d.Slot.Other()
	if os := f.slots[old]; !os.StopAt.IsZero() || !os.StoppingSince.IsZero() {
		keep := os
		keep.StopAt, keep.StoppingSince = time.Time{}, time.Time{}
		if err := c.saveSlot(ctx, os, keep); err != nil {
			return time.Time{}, err
		}
	}
	_, err := c.switchRoute(ctx, fullRoute(old), persist)
	return f.now, err
}

// withData is m with the entries of more added.
func withData(m, more map[string]any) map[string]any {
	maps.Copy(m, more)
	return m
}
