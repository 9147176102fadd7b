package ecs

import (
	"slices"
	"testing"

	"github.com/bluegreen-dev/bluegreen/e2e/ecs/standin"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// TestIAMPolicyInDocs: the policy in docs/ecs.md lists exactly the API
// actions the stand-in saw while the driver did everything it does:
// start a release, wait for it, find a stuck one, shift, read the route
// back after a restart, scale down.
func TestIAMPolicyInDocs(t *testing.T) {
	w := newWorld(t, standin.Options{})
	w.waitReady(t, w.d, slot.Blue)
	w.aws.FailImage(image+"bad", "TaskFailedToStart", "CannotPullContainerError: not found", "")
	if _, err := w.d.Start(t.Context(), slot.Green, "bad"); err != nil {
		t.Fatal(err)
	}
	for why := ""; why == ""; {
		var err error
		if why, err = w.d.Stuck(t.Context(), slot.Green); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.d.Start(t.Context(), slot.Green, "v2"); err != nil {
		t.Fatal(err)
	}
	w.waitReady(t, w.d, slot.Green)
	w.shiftAll(t, w.l)
	NewListener(w.driver(t)).Route()
	w.d.Running(slot.Green)
	if err := w.d.Stop(t.Context(), slot.Blue); err != nil {
		t.Fatal(err)
	}

	policy, err := standin.DocumentedPolicy("../../../docs/ecs.md")
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	for sid, actions := range policy {
		if sid == "BluegreenCloudWatch" {
			continue // the cloudwatch analysis provider's: internal/analysis/provider checks it
		}
		documented = append(documented, actions...)
	}
	slices.Sort(documented)
	if seen := w.aws.Actions(); !slices.Equal(documented, seen) {
		t.Errorf("docs/ecs.md's policy lists\n  %v\nthe driver called\n  %v", documented, seen)
	}
}
