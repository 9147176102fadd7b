package deploy

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

func TestStatusDuringAStep(t *testing.T) {
	h := newHarness(t, nil)
	h.seed(false)
	d := h.driveTo(h.deploy("v2", "canary 5% for 10m").ID, "canary", inPhase(PhaseShifting))
	h.clock.Add(4 * time.Minute)

	st, err := h.c.Status(h.ctx())
	if err != nil {
		t.Fatal(err)
	}
	a := st.Active
	if a == nil || a.ID != d.ID || a.Phase != PhaseShifting || a.Weight != 5 || a.Step != 0 || a.Steps != 2 ||
		a.TimeLeft != "6m0s" || a.TimeLeftSeconds != 360 || !strings.Contains(a.Reason, "5%") {
		t.Fatalf("active = %+v", a)
	}
	if st.Route.Live != slot.Blue || st.Route.Weights[slot.Green] != 5 || st.Route.Weights[slot.Blue] != 95 {
		t.Errorf("route = %+v", st.Route)
	}
	if len(st.Slots) != 2 {
		t.Fatalf("slots = %+v", st.Slots)
	}
	blue, green := st.Slots[0], st.Slots[1]
	if blue.Slot != slot.Blue || !blue.Live || blue.Version != "v1" || blue.State != slot.Running || blue.Weight != 95 ||
		green.Slot != slot.Green || green.Live || green.Version != "v2" || green.Weight != 5 || green.Healthy != 2 || green.Total != 2 {
		t.Errorf("slots = %+v", st.Slots)
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"app":"shop"`, `"phase":"shifting"`, `"time_left":"6m0s"`, `"weight":5`, `"live":"blue"`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("status JSON lacks %s: %s", key, b)
		}
	}

	h.finish(d.ID)
	st, err = h.c.Status(h.ctx())
	if err != nil {
		t.Fatal(err)
	}
	if st.Active != nil || st.Last == nil || st.Last.Phase != PhaseSucceeded || st.Last.TimeLeft != "" {
		t.Errorf("after success: active %+v, last %+v", st.Active, st.Last)
	}
	if st.Slots[0].StopAt.IsZero() {
		t.Errorf("status does not show blue's scale-down time")
	}
}
