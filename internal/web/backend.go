package web

import (
	"context"
	"errors"
	"github.com/bluegreen-dev/bluegreen/internal/slot"

	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// ErrBadRequest marks an error caused by the caller's input (400).
var ErrBadRequest = errors.New("bad request")

// ErrConflict marks a request refused because of the current state (409),
// such as a manual route change while a deployment is active.
var ErrConflict = errors.New("conflict")

// Backend is what the admin API controls: the running server.
type Backend interface {
	// Status is the whole picture for GET /api/v1/status (JSON-encodable).
	Status(ctx context.Context) (any, error)
	// SetRoute changes routing by hand, outside a deployment.
	SetRoute(ctx context.Context, req RouteRequest) (any, error)
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

// RouteRequest is the body of POST /api/v1/route.
type RouteRequest struct {
	// Live makes a slot live with 100% of production traffic.
	Live slot.Slot `json:"live,omitempty"`
	// Weights sets percentages per slot, such as {"green": 30}; a slot left
	// out gets the rest.
	Weights map[slot.Slot]int `json:"weights,omitempty"`
}

// DeploymentView is a deployment with its events, for GET /api/v1/deployments/{id}.
type DeploymentView struct {
	store.Deployment
	Events []store.Event `json:"events"`
}
