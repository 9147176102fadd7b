package api

import (
	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// RouteRequest is the body of POST /api/v1/route.
type RouteRequest struct {
	// Live makes a slot live with 100% of production traffic.
	Live slot.Slot `json:"live,omitempty"`
	// Weights sets percentages per slot, such as {"green": 30}; a slot left
	// out gets the rest.
	Weights map[slot.Slot]int `json:"weights,omitempty"`
}

// DeployRequest is the body of POST /api/v1/deployments.
type DeployRequest struct {
	Version  string `json:"version"`
	Strategy string `json:"strategy,omitempty"`
}

// DeploymentView is a deployment with its events, for
// GET /api/v1/deployments/{id}.
type DeploymentView struct {
	store.Deployment
	Events []store.Event `json:"events"`
}

// ActionResult answers POST /api/v1/deployments/current/{action}.
type ActionResult struct {
	Result string `json:"result"`
}

// Error is every error answer: {"error": "..."}.
type Error struct {
	Error string `json:"error"`
}
