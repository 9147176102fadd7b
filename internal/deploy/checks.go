package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// Check suites run beside the loop (beside.go): the checks of verifying and
// the after_promotion checks at the start of baking. A pass that needs
// their outcome starts them unless they run, and returns. The run stores
// the outcome in the deployment's details (Verified; PostChecked,
// PostFailed) with a conditional write, as a command does, and wakes the
// loop, whose next pass acts on it. The run is cancelled as soon as a pass
// finds the deployment out of that phase or a command (abort) recorded; a
// restart runs the checks again unless their outcome was stored.

// checkBeside makes sure d's verifying checks run beside the loop, or
// tells when to come back for their outcome (zero: their end wakes the
// loop).
func (c *Controller) checkBeside(ctx context.Context, f facts, d store.Deployment) time.Time {
	return c.awaitChecks(ctx, f, checksKey("verifying", d.ID), waitingIn(d.ID, PhaseVerifying), func(ctx context.Context) error {
		passed, report, err := c.verifier.Verify(ctx, d.Slot, d.Version)
		if ctx.Err() != nil {
			return ctx.Err() // no longer wanted
		}
		out := checked{Passed: passed && err == nil}
		if err != nil {
			out.Error = err.Error()
		}
		return c.storeChecked(ctx, d.ID, PhaseVerifying, func(x *details) bool {
			if x.Verified != nil {
				return false
			}
			x.Verified, x.Report = &out, report
			return true
		})
	})
}

// postCheckBeside is checkBeside for d's after_promotion checks. A failure
// to run them is retried after the poll interval, never taken as a pass.
func (c *Controller) postCheckBeside(ctx context.Context, f facts, d store.Deployment) time.Time {
	return c.awaitChecks(ctx, f, checksKey("after-promotion", d.ID), waitingIn(d.ID, PhaseBaking), func(ctx context.Context) error {
		passed, report, err := c.postVerifier.Verify(ctx, d.Slot, d.Version)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			return fmt.Errorf("after-promotion checks of deployment %d could not run: %w", d.ID, err)
		}
		return c.storeChecked(ctx, d.ID, PhaseBaking, func(x *details) bool {
			if x.PostChecked {
				return false
			}
			x.PostChecked, x.PostFailed, x.PostReport = true, !passed, report
			return true
		})
	})
}

// awaitChecks starts the check run named key unless it runs, and tells the
// pass when to come back: zero while it runs (its end wakes the loop), now
// once it stored its outcome (the next pass reads it), or after the poll
// interval when it ended with an error (then it starts again).
func (c *Controller) awaitChecks(ctx context.Context, f facts, key string, wanted func(facts) bool, work func(context.Context) error) time.Time {
	st := c.beside(ctx, key, wanted, work)
	switch {
	case !st.done:
		return time.Time{}
	case st.err == nil:
		c.forget(key)
		return f.now
	}
	retry := st.ended.Add(c.poll)
	if f.now.Before(retry) {
		c.log.Error("checks could not run; retrying", "checks", key, "error", st.err, "retry_at", retry)
		return retry
	}
	c.forget(key)
	c.beside(ctx, key, wanted, work)
	return time.Time{}
}

// storeChecked applies set to the details of deployment id, if it is still
// active in phase p with no command waiting, and stores them (reading
// again after a concurrent write). set reports whether it changed
// anything.
func (c *Controller) storeChecked(ctx context.Context, id int64, p Phase, set func(*details) bool) error {
	for attempt := 0; ; attempt++ {
		d, err := c.store.ActiveDeployment(ctx, c.app)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("store the checks of deployment %d: %w", id, err)
		}
		x, err := readDetails(d)
		if err != nil {
			return err
		}
		if d.ID != id || Phase(d.Phase) != p || x.Request != nil || !set(&x) {
			return nil // it moved on, or it is stored already
		}
		next := d
		if err := x.write(&next); err != nil {
			return err
		}
		err = c.commit(ctx, &d, next, store.Event{})
		if errors.Is(err, store.ErrConflict) && attempt < maxConflictRetries {
			continue
		}
		if err != nil {
			return fmt.Errorf("store the checks of deployment %d: %w", id, err)
		}
		c.log.Info("checks done", logDeploymentID, id, logPhase, p)
		return nil
	}
}

// checksKey names a check run among the work beside the loop.
func checksKey(what string, id int64) string {
	return fmt.Sprintf("%s checks of deployment %d", what, id)
}

// waitingIn is true while deployment id is active in phase p with no
// command waiting to be carried out.
func waitingIn(id int64, p Phase) func(facts) bool {
	return func(f facts) bool {
		if f.active == nil || f.active.ID != id || Phase(f.active.Phase) != p {
			return false
		}
		x, err := readDetails(*f.active)
		return err == nil && x.Request == nil
	}
}
