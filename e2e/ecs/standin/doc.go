// Package standin is a stateful stand-in of the AWS APIs the ecs driver
// calls — ECS (AWS JSON 1.1, X-Amz-Target), ELBv2 (the Query protocol,
// XML answers) and CloudWatch's GetMetricData (Smithy RPC v2 CBOR) — served
// over HTTP on loopback, so that the real AWS SDK for Go v2 clients, with
// their own marshalling, retries and error decoding, run against it
// through their endpoint override.
//
// It models what makes ECS hard: task definitions and their revisions;
// services whose deployments start tasks that take time to run and to
// pass the target group's health check, and that can be told to stop with
// a stoppedReason (FailImage); DescribeServices that answers the state
// before the last UpdateService for a few reads (StaleReads, eventual
// consistency); throttling of a share of the calls (ThrottlingException
// for ECS, Throttling for ELBv2); target groups with target health;
// listeners with default actions, weighted ForwardConfig and
// TargetGroupStickinessConfig, and tags; metric data per target group.
// It counts every call applied (Calls) and records every listener's
// writes (Writes) and the IAM actions seen (Actions).
//
// It lives beside the tests, never in the product: nothing under
// internal/ imports it outside _test files.
package standin
