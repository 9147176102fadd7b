package migrate

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestMigrateGateTimeLeft: a refusal says how long until it lifts by
// itself: the warm release's scale-down, or the rest of bake_time.
func TestMigrateGateTimeLeft(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	g := Gate{Releases: map[string][]string{"v2": {"0002_split"}}, BakeTime: time.Minute, Now: func() time.Time { return now }}
	v2 := Running{Slot: "green", Version: "v2", State: SlotLive, PromotedAt: now.Add(-2 * time.Minute)}

	warm := Running{Slot: "blue", Version: "v1", State: SlotWarm, StopAt: now.Add(90 * time.Second)}
	err := g.Check("0002_split", []Running{warm, v2})
	var ge *GateError
	if !errors.As(err, &ge) || ge.Baking || ge.Left != 90*time.Second {
		t.Fatalf("v1 warm: err = %v", err)
	}
	for _, want := range []string{"slot blue", "release v1 (warm)", "time left: 1m30s", "2026-01-02T03:05:35Z"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q: %v", want, err)
		}
	}

	// Warm with no scale-down scheduled, and live: no time left to give.
	warm.StopAt = time.Time{}
	if err := g.Check("0002_split", []Running{warm, v2}); err == nil || !strings.Contains(err.Error(), "time left: unknown") {
		t.Errorf("v1 warm, no stop scheduled: %v", err)
	}
	if err := g.Check("0002_split", []Running{{Slot: "blue", Version: "v1", State: SlotLive}}); err == nil || !strings.Contains(err.Error(), "it is live") {
		t.Errorf("v1 live: %v", err)
	}

	// Only v2 runs, promoted 20s ago: 40s of bake_time left.
	v2.PromotedAt = now.Add(-20 * time.Second)
	err = g.Check("0002_split", []Running{v2})
	if !errors.As(err, &ge) || !ge.Baking || ge.Left != 40*time.Second || !strings.Contains(err.Error(), "40s left") || !strings.Contains(err.Error(), "slot green runs release v2") {
		t.Fatalf("v2 baking: err = %v", err)
	}
	// After bake_time, or with no promotion time known, it passes.
	v2.PromotedAt = now.Add(-time.Minute)
	if err := g.Check("0002_split", []Running{v2}); err != nil {
		t.Errorf("after bake_time: %v", err)
	}
	v2.PromotedAt = time.Time{}
	if err := g.Check("0002_split", []Running{v2}); err != nil {
		t.Errorf("no promotion time: %v", err)
	}
}
