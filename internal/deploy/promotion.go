package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// afterPromotion runs the after_promotion checks once, when the new slot
// has all production traffic (the start of baking), beside the loop
// (checks.go). It reports whether it acted or waits for them, which holds
// the bake: a failure moves the deployment to rolling_back, a pass is
// stored (so a restart does not run them again). An error running them is
// retried after the poll interval, never taken as a pass.
func (c *Controller) afterPromotion(ctx context.Context, f facts, d *store.Deployment) (time.Time, bool, error) {
	if c.postVerifier == nil {
		return time.Time{}, false, nil
	}
	x, err := readDetails(*d)
	if err != nil {
		return time.Time{}, false, err
	}
	switch {
	case !x.PostChecked:
		return c.postCheckBeside(ctx, f, *d), true, nil
	case !x.PostFailed:
		return time.Time{}, false, nil
	}
	live := d.Slot.Other()
	err = c.transition(ctx, d, PhaseRollingBack,
		fmt.Sprintf("after-promotion checks failed on %s in %s; traffic back on %s (%s)", d.Version, d.Slot, live, d.FromVersion),
		map[string]any{"after_promotion": json.RawMessage(x.PostReport)},
		func(n *store.Deployment, nx *details) {
			n.Paused, n.Deadline, nx.Remaining = "", time.Time{}, ""
			nx.Failure = x.PostReport
		})
	return f.now, true, err
}
