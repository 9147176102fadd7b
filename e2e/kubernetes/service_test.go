package kubee2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// selectorTimeline records the slot that Service name selects.
func (a *kubeApp) selectorTimeline(name string) *timeline {
	tl := &timeline{}
	tl.poll(a.t, func(ctx context.Context) (string, error) {
		svc, err := a.client.CoreV1().Services(a.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		return svc.Spec.Selector["version"], nil
	})
	return tl
}

// selector reads the slot Service name selects.
func (a *kubeApp) selector(name string) string {
	a.t.Helper()
	svc, err := a.client.CoreV1().Services(a.ns).Get(a.t.Context(), name, metav1.GetOptions{})
	if err != nil {
		a.t.Fatalf("read back service %s: %v", name, err)
	}
	return svc.Spec.Selector["version"]
}

// deployAndMeasure deploys version, waits for it to succeed and returns
// its view, the time from `deploy` to the production Service selecting
// the new slot, and the API writes serve made meanwhile.
func (a *kubeApp) deployAndMeasure(version string, prod *timeline, within time.Duration) (deploymentView, time.Duration, map[string]int, int) {
	a.t.Helper()
	before := a.counter.snapshot()
	began := time.Now()
	id := a.deploy(version)
	v := a.waitEnded(id, within)
	if v.Phase != "succeeded" {
		a.t.Fatalf("%s: %s (%s), want succeeded; phases %v", version, v.Phase, v.Reason, phasesOf(v.Events))
	}
	writes, total := a.counter.writesSince(before)
	switched := prod.first(string(v.Slot), began)
	if switched.IsZero() {
		a.t.Fatalf("%s: the production Service never selected %s (selectors seen: %v)", version, v.Slot, prod.seq())
	}
	return v, switched.Sub(began), writes, total
}

// TestServiceModeDeployRollbackScaleDown: traffic service, all-at-once.
// v1 is the first release; v2 goes into the other slot's Deployment with
// the v2 image, the switch waits for its Ready pods (kwok), and then the
// production Service selects v2's slot and the preview Service v1's. A
// warm `bluegreen rollback` flips both back with writes to the two
// Services only, and once scale_down_delay has passed the Deployment
// rolled back from has 0 replicas while the live one keeps its pods.
func TestServiceModeDeployRollbackScaleDown(t *testing.T) {
	const replicas = 2
	const scaleDownDelay = 8 * time.Second
	a := newKubeApp(t, kubeOptions{traffic: "service", strategy: "all-at-once", bake: "2s",
		scaleDownDelay: scaleDownDelay.String(), replicas: replicas})
	prod := a.selectorTimeline(appName)
	preview := a.selectorTimeline(appName + "-preview")
	a.start()

	v1, took, writes, total := a.deployAndMeasure("v1", prod, 2*time.Minute)
	t.Logf("v1 (first release) into %s: deploy → production Service selects it in %s with %d ready pods; %d API writes: %s",
		v1.Slot, took.Round(time.Millisecond), replicas, total, formatCounts(writes))
	if got := a.selector(appName); got != string(v1.Slot) {
		t.Fatalf("production Service selects %q after v1, want %s", got, v1.Slot)
	}
	oldSlot := v1.Slot
	newSlot := oldSlot.Other()

	v2, took, writes, total := a.deployAndMeasure("v2", prod, 2*time.Minute)
	succeededAt := time.Now()
	t.Logf("v2 into %s: deploy → switch in %s with %d ready pods; %d API writes: %s; phases %v",
		v2.Slot, took.Round(time.Millisecond), replicas, total, formatCounts(writes), phasesOf(v2.Events))
	if v2.Slot != newSlot {
		t.Fatalf("v2 went into %s, want the idle slot %s", v2.Slot, newSlot)
	}
	dep := a.deploymentObject(newSlot)
	if img := dep.Spec.Template.Spec.Containers[0].Image; img != "example.com/shop:v2" {
		t.Errorf("deployment %s image %s, want example.com/shop:v2", dep.Name, img)
	}
	if *dep.Spec.Replicas != replicas || dep.Status.ReadyReplicas != replicas {
		t.Errorf("deployment %s: %d replicas, %d ready; want %d and %d", dep.Name, *dep.Spec.Replicas, dep.Status.ReadyReplicas, replicas, replicas)
	}
	if got := a.selector(appName); got != string(newSlot) {
		t.Errorf("production Service selects %q after v2, want %s", got, newSlot)
	}
	if got := a.selector(appName + "-preview"); got != string(oldSlot) {
		t.Errorf("preview Service selects %q after v2, want %s", got, oldSlot)
	}
	if !containsInOrder(phasesOf(v2.Events), "waiting_ready", "succeeded") {
		t.Errorf("v2 phases %v: no waiting_ready before succeeded", phasesOf(v2.Events))
	}
	// The production Service is written twice per deployment: the switch
	// (its selector, when baking starts) and, at succeeded, the live-slot
	// annotation; its selector changes once.
	if n := writes["PATCH services/"+appName]; n > 2 {
		t.Errorf("v2 wrote the production Service %d times, want at most 2 (the switch, then the live annotation)", n)
	}
	if got := prod.seq(); len(got) != 2 {
		t.Errorf("production selector went %v during v1 and v2, want one change", got)
	}

	// A warm rollback: the old slot still runs v1 within scale_down_delay.
	before := a.counter.snapshot()
	began := time.Now()
	out := a.mustCLI("rollback")
	var rbID int64
	if _, err := fmt.Sscanf(out, "rollback %d:", &rbID); err != nil {
		t.Fatalf("rollback: no id in %q", out)
	}
	rb := a.waitEnded(rbID, time.Minute)
	if time.Since(succeededAt) > scaleDownDelay {
		t.Fatalf("the rollback ended %s after v2 succeeded, past scale_down_delay (%s): not a warm rollback", time.Since(succeededAt), scaleDownDelay)
	}
	writes, total = a.counter.writesSince(before)
	t.Logf("rollback (warm) to %s: %s, %s after the command; %d API writes: %s; phases %v",
		rb.Slot, rb.Phase, time.Since(began).Round(time.Millisecond), total, formatCounts(writes), phasesOf(rb.Events))
	if rb.Phase != "succeeded" || rb.Slot != oldSlot || rb.Version != "v1" {
		t.Fatalf("rollback: %s into %s with %s (%s), want succeeded into %s with v1", rb.Phase, rb.Slot, rb.Version, rb.Reason, oldSlot)
	}
	if got := a.selector(appName); got != string(oldSlot) {
		t.Errorf("production Service selects %q after the rollback, want %s", got, oldSlot)
	}
	if got := a.selector(appName + "-preview"); got != string(newSlot) {
		t.Errorf("preview Service selects %q after the rollback, want %s", got, newSlot)
	}
	if n := writes["PATCH services/"+appName]; n != 1 {
		t.Errorf("the rollback wrote the production Service %d times, want one write (the flip)", n)
	}
	for k := range writes {
		if k != "PATCH services/"+appName && k != "PATCH services/"+appName+"-preview" {
			t.Errorf("the warm rollback wrote %s; want writes to the two Services only", k)
		}
	}
	if got := prod.seq(); !containsInOrder(got, string(oldSlot), string(newSlot), string(oldSlot)) {
		t.Errorf("production selector went %v, want %s, %s, %s", got, oldSlot, newSlot, oldSlot)
	}
	t.Logf("selectors seen: production %v, preview %v", prod.seq(), preview.seq())

	// After scale_down_delay the release rolled back from goes to 0.
	waitFor(t, scaleDownDelay+time.Minute, fmt.Sprintf("deployment %s-%s to scale to 0", appName, newSlot), func() bool {
		d := a.deploymentObject(newSlot)
		return *d.Spec.Replicas == 0
	})
	t.Logf("%s-%s scaled to 0 %s after the rollback (scale_down_delay %s)", appName, newSlot,
		time.Since(began).Round(time.Millisecond), scaleDownDelay)
	if d := a.deploymentObject(oldSlot); *d.Spec.Replicas != replicas {
		t.Errorf("the live deployment %s has %d replicas, want %d", d.Name, *d.Spec.Replicas, replicas)
	}
	if got := a.selector(appName); got != string(oldSlot) {
		t.Errorf("production Service selects %q after the scale-down, want %s", got, oldSlot)
	}
}

// TestServiceModeTenPods: the time from `deploy` to the switch and the
// API writes of a deployment with 10 pods per slot.
func TestServiceModeTenPods(t *testing.T) {
	const replicas = 10
	a := newKubeApp(t, kubeOptions{traffic: "service", strategy: "all-at-once", bake: "1s",
		scaleDownDelay: "1s", replicas: replicas})
	prod := a.selectorTimeline(appName)
	a.start()
	v1, took, writes, total := a.deployAndMeasure("v1", prod, 3*time.Minute)
	t.Logf("v1 (first release) into %s: deploy → switch in %s with %d ready pods; %d API writes: %s",
		v1.Slot, took.Round(time.Millisecond), replicas, total, formatCounts(writes))
	before := a.counter.snapshot()
	v2, took, writes, total := a.deployAndMeasure("v2", prod, 3*time.Minute)
	t.Logf("v2 into %s: deploy → switch in %s with %d ready pods; %d API writes until the test saw it succeed: %s",
		v2.Slot, took.Round(time.Millisecond), replicas, total, formatCounts(writes))
	if d := a.deploymentObject(v2.Slot); d.Status.ReadyReplicas != replicas {
		t.Errorf("deployment %s: %d ready, want %d", d.Name, d.Status.ReadyReplicas, replicas)
	}
	waitFor(t, time.Minute, "the old deployment to scale to 0", func() bool {
		return *a.deploymentObject(v1.Slot).Spec.Replicas == 0
	})
	// The whole deployment, from `deploy` to the old slot at 0: its writes
	// do not grow with the pods — one write per Deployment (the new one's
	// image and replicas, the old one's scale-down), none to pods.
	writes, total = a.counter.writesSince(before)
	t.Logf("v2 from deploy to %s-%s at 0 replicas, %d pods per slot: %d API writes: %s",
		appName, v1.Slot, replicas, total, formatCounts(writes))
	for k, n := range writes {
		_, obj, _ := strings.Cut(k, " ")
		switch {
		case strings.HasPrefix(obj, "pods"):
			t.Errorf("v2 wrote a pod: %s ×%d", k, n)
		case strings.HasPrefix(obj, "deployments/") && n != 1:
			t.Errorf("v2 wrote %s %d times, want once", k, n)
		}
	}
	for _, sl := range []string{string(v1.Slot), string(v2.Slot)} {
		if writes["PATCH deployments/"+appName+"-"+sl] != 1 {
			t.Errorf("v2's writes %s: want one PATCH of deployments/%s-%s", formatCounts(writes), appName, sl)
		}
	}
}

// containsInOrder reports whether want is a subsequence of got.
func containsInOrder(got []string, want ...string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}
