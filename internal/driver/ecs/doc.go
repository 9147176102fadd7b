// Package ecs is the AWS ECS driver (driver.kind: ecs): each slot's
// release runs in its own ECS service, <service>-blue or <service>-green,
// registered in its own ALB target group, and production traffic reaches
// the live slot by the production listener's default action — a forward
// to one target group, or one weighted forward to both (ForwardConfig)
// while traffic shifts. An optional test listener always forwards to the
// idle slot. There is no CodeDeploy: the controller drives it like any
// other driver.
//
// Main flow: Start registers a task definition revision from the
// family's current one with the release's image (reused when one with
// that image exists, so Start is idempotent) and updates the slot's
// service to it with the desired count; Ready says the slot is ready when
// the service is steady on that revision (one deployment, complete, its
// tasks running) and its target group has min_healthy of the desired
// count healthy; Stuck reports at once the stoppedReason of a task of the
// slot's deployment that ECS stopped (CannotPullContainerError, an
// essential container that exited, a failed health check). Stop sets the
// desired count to 0. The Listener is the controller's Router: each
// SetRoute reads the listener, refuses a weight step toward a target
// group with no healthy target, writes the forward action (keeping its
// TargetGroupStickinessConfig) only if it differs, reads it back, points
// the test listener at the idle slot and tags the listener with the live
// slot, so that Route, after a restart, reads back the route in force.
package ecs
