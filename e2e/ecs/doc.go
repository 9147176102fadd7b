// Package ecse2e runs the real `bluegreen serve` binary with driver.kind
// ecs against the in-process ECS/ELBv2 stand-in (e2e/ecs/standin), which
// lives in the test process and so outlives every serve it starts: the
// crash-safety test kills serve with SIGKILL right after it wrote the
// production listener and checks what a restarted serve does.
package ecse2e
