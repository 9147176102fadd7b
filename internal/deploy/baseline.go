package deploy

import (
	"fmt"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/analysis"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// A deployment that goes to 100% at once (all-at-once, linear 100%) never
// measures the live slot in a shifting window, so while baking a rule that
// compares with live (max_ratio_to_live, compare: statistical) would have
// nothing to compare with and every window would be inconclusive. The
// live slot's own traffic before the switch stands in: from the first
// pass of the deployment (pending, or the first pass after a restart) to
// the switch, the live slot served every request, measured by the same
// meter. Taken only when it had at least min_requests.

// liveBefore is the live slot's traffic before the switch, kept in the
// deployment's details as the baseline of its first baking window.
type liveBefore struct {
	Slot    slot.Slot `json:"slot"`
	Seconds float64   `json:"seconds"`
	// Summary is nil when the live slot had fewer than min_requests
	// (Requests says how many).
	Summary  *analysis.Summary           `json:"summary,omitempty"`
	Requests uint64                      `json:"requests"`
	Filtered map[string]analysis.Summary `json:"filtered,omitempty"`
}

// watchLive starts measuring the live slot for deployment d when nothing
// measures it yet (the first pass before traffic moves, here or after a
// restart). It lives in memory, like an analysis window.
func (c *Controller) watchLive(d *store.Deployment, now time.Time) {
	if c.meter == nil || c.analysis == nil {
		return
	}
	if w := c.pre.Load(); w != nil && w.id == d.ID {
		return
	}
	c.pre.Store(&window{id: d.ID, phase: Phase(d.Phase), start: now, live: c.meter.Measure(d.Slot.Other())})
}

// liveBeforeSwitch measures the live slot of d from watchLive to now; ok
// is false when nothing measured it.
func (c *Controller) liveBeforeSwitch(d *store.Deployment, now time.Time) (*liveBefore, bool) {
	w := c.pre.Load()
	if w == nil || w.id != d.ID || c.meter == nil || c.analysis == nil {
		return nil, false
	}
	length := now.Sub(w.start).Round(time.Second)
	if length <= 0 {
		return nil, false
	}
	live := d.Slot.Other()
	m := c.meter.Measure(live).Sub(w.live)
	lb := &liveBefore{Slot: live, Seconds: length.Seconds(), Requests: m.User.Requests}
	if m.User.Requests >= uint64(c.analysis.MinRequests) {
		s := analysis.Summarize(m.User, length)
		lb.Summary = &s
	}
	lb.Filtered = filteredBaselines(analysis.Input{Window: length, MinRequests: c.analysis.MinRequests, LiveFiltered: m.UserFiltered})
	return lb, true
}

// describe tells, for the baking event, what the live baseline is.
func (lb *liveBefore) describe(need int) string {
	span := time.Duration(lb.Seconds * float64(time.Second))
	if lb.Summary != nil {
		return fmt.Sprintf("live baseline: %d requests on %s in the %s before the switch", lb.Requests, lb.Slot, span)
	}
	return fmt.Sprintf("no live baseline: only %d requests on %s in the %s before the switch, need %d; rules that compare with live will be inconclusive",
		lb.Requests, lb.Slot, span, need)
}

// bakeReason is the reason of d's move to baking: the bake time and, when
// analysis judges d, that success also waits for a window that passes,
// and (with no shifting window before) the live baseline to compare with.
func (c *Controller) bakeReason(d *store.Deployment) (string, *liveBefore, error) {
	reason := fmt.Sprintf("100%% of traffic on %s (%s); baking for %s", d.Slot, d.Version, c.bakeTime)
	x, err := readDetails(*d)
	if err != nil {
		return "", nil, err
	}
	if !c.analysing(d, x) {
		return reason, nil, nil
	}
	reason += fmt.Sprintf(", then until an analysis window (%s) passes", c.analysis.Interval.D())
	if x.Analysis != nil {
		return reason, nil, nil
	}
	lb, ok := c.liveBeforeSwitch(d, c.clock.Now())
	if !ok {
		return reason, nil, nil
	}
	return reason + "; " + lb.describe(c.analysis.MinRequests), lb, nil
}
