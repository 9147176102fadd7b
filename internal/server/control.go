package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/bluegreen-dev/bluegreen/internal/api"
	"github.com/bluegreen-dev/bluegreen/internal/deploy"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store"
	"github.com/bluegreen-dev/bluegreen/internal/web"
)

// control is the admin API's view of the server.
type control struct{ s *Server }

var _ web.Backend = (*control)(nil)

// Status is GET /api/v1/status: the controller's picture plus the
// router's live numbers and the driver's instances per slot. A cluster
// node that cannot read the state store still answers, degraded: the
// route its router serves, the router's numbers and the cluster's view,
// without the stored parts (slots' versions, deployments).
func (c *control) Status(ctx context.Context) (api.Status, error) {
	out, err := c.s.ctrl.Status(ctx)
	if err != nil {
		if c.s.cluster == nil {
			return api.Status{}, err
		}
		return c.degradedStatus(err), nil
	}
	out.Router = c.s.router.Status()
	for _, sl := range slot.All() {
		if in := c.s.runtime.Instances(sl); in != nil {
			if out.Instances == nil {
				out.Instances = map[string]any{}
			}
			out.Instances[string(sl)] = in
		}
	}
	c.s.clusterStatus(&out)
	return out, nil
}

// degradedStatus is Status when the state store cannot be read (err):
// what this node knows without it, marked degraded.
func (c *control) degradedStatus(err error) api.Status {
	live, weights := routerAdapter{c.s.router}.Route()
	out := api.Status{App: c.s.cfg.App,
		Route:  api.Route{Live: live, Weights: map[slot.Slot]int{slot.Blue: weights[slot.Blue], slot.Green: weights[slot.Green]}},
		Router: c.s.router.Status()}
	c.s.clusterStatus(&out)
	out.Cluster.Degraded = true
	if out.Cluster.StateError == "" {
		out.Cluster.StateError = err.Error()
	}
	return out
}

func (c *control) SetRoute(ctx context.Context, req api.RouteRequest) (store.Route, error) {
	r, err := c.s.ctrl.SetRoute(ctx, req.Live, req.Weights)
	return r, apiErr(err)
}

func (c *control) Deploy(ctx context.Context, version, strategy string) (store.Deployment, error) {
	d, err := c.s.ctrl.Deploy(ctx, version, strategy)
	return d, apiErr(err)
}

func (c *control) Act(ctx context.Context, action string) error {
	var err error
	switch action {
	case "promote":
		err = c.s.ctrl.Promote(ctx)
	case "pause":
		err = c.s.ctrl.Pause(ctx)
	case "resume":
		err = c.s.ctrl.Resume(ctx)
	case "abort":
		err = c.s.ctrl.Abort(ctx)
	default:
		err = fmt.Errorf("%w: unknown action %q", web.ErrBadRequest, action)
	}
	return apiErr(err)
}

func (c *control) Rollback(ctx context.Context) (store.Deployment, error) {
	d, err := c.s.ctrl.Rollback(ctx)
	return d, apiErr(err)
}

func (c *control) Deployments(ctx context.Context, limit int) ([]store.Deployment, error) {
	return c.s.store.ListDeployments(ctx, c.s.cfg.App, limit)
}

func (c *control) Deployment(ctx context.Context, id int64) (store.Deployment, []store.Event, error) {
	d, err := c.s.store.GetDeployment(ctx, id)
	if err != nil {
		return store.Deployment{}, nil, fmt.Errorf("deployment %d: %w", id, err)
	}
	if d.App != c.s.cfg.App {
		return store.Deployment{}, nil, fmt.Errorf("deployment %d: %w", id, store.ErrNotFound)
	}
	evs, err := c.s.store.Events(ctx, id)
	return d, evs, err
}

func (c *control) Subscribe(buffer int) (<-chan store.Event, func()) {
	return c.s.ctrl.Subscribe(buffer)
}

// apiErr maps the controller's error kinds to the admin API's.
func apiErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, deploy.ErrInvalid):
		return fmt.Errorf("%w: %w", web.ErrBadRequest, err)
	case errors.Is(err, deploy.ErrNotAllowed), errors.Is(err, deploy.ErrNoActiveDeployment), errors.Is(err, deploy.ErrNothingToRollBack):
		return fmt.Errorf("%w: %w", web.ErrConflict, err)
	default:
		return err
	}
}
