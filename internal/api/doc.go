// Package api is the admin API's contract: the request and response types
// of /api/v1, shared by the server that answers (internal/web, fed by the
// controller and the router) and the CLI that asks. It holds types only,
// plus the phase vocabulary of the lifecycle, so the CLI depends on it and
// on nothing of the server side.
//
// Main flow: GET /api/v1/status answers a Status — the controller's part
// (route, slots, the active or last deployment), the router's live numbers
// (RouterStatus) and the driver's instances; POST /api/v1/route takes a
// RouteRequest; POST /api/v1/deployments takes a DeployRequest;
// GET /api/v1/deployments/{id} answers a DeploymentView.
package api
