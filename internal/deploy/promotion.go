package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// afterPromotion runs the after_promotion checks once, when the new slot
// has all production traffic (the start of baking). It reports whether it
// acted: a failure moves the deployment to rolling_back, a pass records
// that the checks ran (so a restart does not run them again). An error
// running them is retried after the poll interval, never taken as a pass.
func (c *Controller) afterPromotion(ctx context.Context, f facts, d *store.Deployment) (time.Time, bool, error) {
	if c.postVerifier == nil {
		return time.Time{}, false, nil
	}
	x, err := readDetails(*d)
	if err != nil {
		return time.Time{}, false, err
	}
	if x.PostChecked {
		return time.Time{}, false, nil
	}
	passed, report, err := c.postVerifier.Verify(ctx, d.Slot, d.Version)
	if err != nil {
		c.log.Error("after-promotion checks could not run; retrying", logDeploymentID, d.ID, "error", err)
		return f.now.Add(c.poll), true, nil
	}
	if !passed {
		live := d.Slot.Other()
		err := c.transition(ctx, d, PhaseRollingBack,
			fmt.Sprintf("after-promotion checks failed on %s in %s; traffic back on %s (%s)", d.Version, d.Slot, live, d.FromVersion),
			map[string]any{"after_promotion": json.RawMessage(report)},
			func(n *store.Deployment, nx *details) {
				n.Paused, n.Deadline, nx.Remaining = "", time.Time{}, ""
				nx.PostChecked, nx.PostReport, nx.Failure = true, report, report
			})
		return f.now, true, err
	}
	x.PostChecked, x.PostReport = true, report
	next := *d
	if err := x.write(&next); err != nil {
		return time.Time{}, false, err
	}
	if err := c.commit(ctx, d, next, store.Event{}); err != nil {
		return time.Time{}, false, err
	}
	c.log.Info("after-promotion checks passed", logDeploymentID, d.ID, logSlot, d.Slot, logVersion, d.Version)
	return time.Time{}, false, nil
}
