package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/analysis"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// Status is the whole picture for `bluegreen status` and GET /api/v1/status.
type Status struct {
	App   string       `json:"app"`
	Route RouteStatus  `json:"route"`
	Slots []SlotStatus `json:"slots"`
	// Active is the deployment in progress; nil when none.
	Active *DeploymentStatus `json:"active,omitempty"`
	// Last is the newest deployment when none is active; nil if there was none.
	Last *DeploymentStatus `json:"last,omitempty"`
}

// RouteStatus is the route table in force in the router.
type RouteStatus struct {
	Live    slot.Slot         `json:"live"`
	Weights map[slot.Slot]int `json:"weights"`
}

// SlotStatus is what one slot runs and how healthy it is.
type SlotStatus struct {
	Slot    slot.Slot  `json:"slot"`
	Version string     `json:"version"` // "" when nothing was ever deployed there
	State   slot.State `json:"state"`   // running, starting or stopped
	Live    bool       `json:"live"`
	Weight  int        `json:"weight"` // percent of production traffic
	Healthy int        `json:"healthy"`
	Total   int        `json:"total"`
	// StopAt is when the warm release stops (scale-down), if scheduled.
	StopAt time.Time `json:"stop_at,omitzero"`
}

// DeploymentStatus is one deployment as users see it.
type DeploymentStatus struct {
	ID          int64     `json:"id"`
	Kind        string    `json:"kind"`
	Version     string    `json:"version"`
	Slot        slot.Slot `json:"slot"`
	FromVersion string    `json:"from_version"`
	Strategy    string    `json:"strategy"`
	Phase       Phase     `json:"phase"`
	// PausedIn is the phase a paused deployment resumes into.
	PausedIn Phase `json:"paused_in,omitempty"`
	Step     int   `json:"step"`  // 0-based index into the strategy's steps
	Steps    int   `json:"steps"` // number of steps, the last being 100%
	Weight   int   `json:"weight"`
	// TimeLeft is what remains of the current step, bake or ready wait
	// (kept while paused); empty when nothing is timed.
	TimeLeft        string    `json:"time_left,omitempty"`
	TimeLeftSeconds float64   `json:"time_left_seconds"`
	Deadline        time.Time `json:"deadline,omitzero"`
	Reason          string    `json:"reason"` // why the last transition happened
	// Report is the verifier's report, Failure the data given with Fail.
	Report  json.RawMessage `json:"report,omitempty"`
	Failure json.RawMessage `json:"failure,omitempty"`
	// Analysis is the newest analysis window's verdict, with its numbers.
	Analysis  *analysis.Verdict `json:"analysis,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
	EndedAt   time.Time         `json:"ended_at,omitzero"`
}

// Status reports the route in force, the slots and the active (or last)
// deployment.
func (c *Controller) Status(ctx context.Context) (Status, error) {
	st := Status{App: c.app}
	live, weights := c.router.Route()
	st.Route = RouteStatus{Live: live, Weights: map[slot.Slot]int{slot.Blue: weights[slot.Blue], slot.Green: weights[slot.Green]}}
	slots, err := c.loadSlots(ctx)
	if err != nil {
		return Status{}, fmt.Errorf("status of %s: %w", c.app, err)
	}
	for _, name := range slot.All() {
		s := slots[name]
		h, t := c.router.SlotReady(name)
		st.Slots = append(st.Slots, SlotStatus{
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
			return Status{}, fmt.Errorf("status of %s: %w", c.app, err)
		}
		if len(list) > 0 {
			ds := c.deploymentStatus(list[0])
			st.Last = &ds
		}
	default:
		return Status{}, fmt.Errorf("status of %s: %w", c.app, err)
	}
	return st, nil
}

// deploymentStatus describes d at the clock's now.
func (c *Controller) deploymentStatus(d store.Deployment) DeploymentStatus {
	ds := DeploymentStatus{
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
