package web

import (
	"context"
	"errors"

	"github.com/bluegreen-dev/bluegreen/internal/api"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// ErrBadRequest marks an error caused by the caller's input (400).
var ErrBadRequest = errors.New("bad request")

// ErrConflict marks a request refused because of the current state (409),
// such as a manual route change while a deployment is active.
var ErrConflict = errors.New("conflict")

// Backend is what the admin API controls: the running server.
type Backend interface {
	// Status is the whole picture for GET /api/v1/status.
	Status(ctx context.Context) (api.Status, error)
	// SetRoute changes routing by hand, outside a deployment, and returns
	// the route table as stored.
	SetRoute(ctx context.Context, req api.RouteRequest) (store.Route, error)
	// Deploy starts a deployment of version.
	Deploy(ctx context.Context, version, strategy string) (store.Deployment, error)
	// Act applies promote, pause, resume or abort to the active deployment.
	Act(ctx context.Context, action string) error
	// Rollback goes back to the previous release.
	Rollback(ctx context.Context) (store.Deployment, error)
	// Deployments lists the newest deployments first.
	Deployments(ctx context.Context, limit int) ([]store.Deployment, error)
	// Deployment returns one deployment with its events.
	Deployment(ctx context.Context, id int64) (store.Deployment, []store.Event, error)
	// Subscribe streams every persisted event until cancel is called.
	Subscribe(buffer int) (events <-chan store.Event, cancel func())
}
