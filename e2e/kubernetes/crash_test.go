package kubee2e

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bluegreen-dev/bluegreen/internal/kubetest"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store/sqlite"
)

// TestGatewayKilledDuringShiftResumes: traffic gateway, linear 25% every
// 3s. serve is killed with SIGKILL while v2's slot holds 50%; then the
// stored deployment and the HTTPRoute agree on the step. Restarted, serve
// resumes at the stored step (the route never goes back to 25%), creates
// no other Deployment or ReplicaSet, and finishes, with the HTTPRoute at
// the stored route.
func TestGatewayKilledDuringShiftResumes(t *testing.T) {
	kubetest.Shared(t).InstallGatewayAPI(t)
	a := newKubeApp(t, kubeOptions{traffic: "gateway", gateway: "shop-gateway",
		strategy: "linear 25% every 3s", bake: "1s", scaleDownDelay: "1m"})
	newSlot := slot.Green // v1, the first release, goes into blue
	tl := a.routeTimeline(newSlot)
	a.start()
	a.deployWeighted(t, "v1", nil)

	id := a.deploy("v2")
	waitFor(t, time.Minute, "v2 to hold 50% in the store and in the HTTPRoute", func() bool {
		v := a.deployment(id)
		return v.Phase == "shifting" && v.Weight == 50 && tl.first("50", time.Time{}) != (time.Time{})
	})
	before := a.counter.snapshot()
	a.kill()
	killedAt := time.Now()

	// The stored facts and the HTTPRoute, with serve dead.
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(a.dir, ".bluegreen/state.db"))
	if err != nil {
		t.Fatalf("open the state: %v", err)
	}
	stored, err := st.GetDeployment(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	storedRoute, err := st.LoadRoute(ctx, appName)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("close the state: %v", err)
	}
	w, live, err := a.routeWeights(ctx)
	if err != nil {
		t.Fatalf("read back httproute: %v", err)
	}
	t.Logf("killed: stored %s step %d weight %d, stored route live %s %v; httproute live %s %v",
		stored.Phase, stored.Step, stored.Weight, storedRoute.Live, storedRoute.Weights, live, w)
	if stored.Phase != "shifting" || stored.Weight != 50 || w[newSlot] != stored.Weight || w[newSlot.Other()] != 100-stored.Weight {
		t.Errorf("after the kill the store says %s at %d%% (step %d), the HTTPRoute %v: want them to agree on 50%%", stored.Phase, stored.Weight, stored.Step, w)
	}

	a.start()
	restarted := time.Now()
	v := a.waitEnded(id, 2*time.Minute)
	writes, total := a.counter.writesSince(before)
	t.Logf("restarted %s after the kill; v2 %s %s after the restart; %d API writes after the kill: %s; phases %v; event weights %v; route object %v",
		restarted.Sub(killedAt).Round(time.Millisecond), v.Phase, time.Since(restarted).Round(time.Millisecond),
		total, formatCounts(writes), phasesOf(v.Events), weightsOf(t, v.Events), tl.seq())
	if v.Phase != "succeeded" {
		t.Fatalf("v2 after the restart: %s (%s), want succeeded", v.Phase, v.Reason)
	}
	want := []int{25, 50, 75, 100}
	if got := weightsOf(t, v.Events); !slices.Equal(got, want) {
		t.Errorf("event weights %v, want %v (a restart that went back a step would repeat one)", got, want)
	}
	if got := tl.seq(); !slices.Equal(got, []string{"0", "25", "50", "75", "100"}) {
		t.Errorf("the HTTPRoute gave %s %v%% in turn, want 0, 25, 50, 75, 100", newSlot, got)
	}
	// The first event after the restart is at the stored step or later.
	for _, ev := range v.Events {
		if ev.Time.Before(killedAt) {
			continue
		}
		var data struct {
			Step   int `json:"step"`
			Weight int `json:"weight"`
		}
		if err := json.Unmarshal(ev.Data, &data); err != nil {
			t.Fatalf("event %d data %s: %v", ev.ID, ev.Data, err)
		}
		t.Logf("first event after the restart: %s step %d weight %d (%s)", ev.Phase, data.Step, data.Weight, ev.Reason)
		if data.Step < stored.Step || data.Weight < stored.Weight {
			t.Errorf("the first event after the restart is at step %d, %d%%; the stored step was %d, %d%%", data.Step, data.Weight, stored.Step, stored.Weight)
		}
		break
	}
	if writes["PATCH deployments/"+appName+"-"+string(newSlot)] != 0 {
		t.Logf("note: serve wrote %s-%s again after the restart (%d)", appName, newSlot, writes["PATCH deployments/"+appName+"-"+string(newSlot)])
	}

	// No duplicate Deployments, and v2's pods from one ReplicaSet.
	if names := a.appDeployments(); len(names) != 2 {
		t.Errorf("deployments labelled app=%s: %v, want exactly 2", appName, names)
	}
	rss, err := a.client.AppsV1().ReplicaSets(a.ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + appName + ",version=" + string(newSlot)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rss.Items) != 1 {
		t.Errorf("%d ReplicaSets of %s-%s, want 1: the restart changed the pod template", len(rss.Items), appName, newSlot)
	}

	// The HTTPRoute matches the stored route at the end.
	end := a.status()
	w, live, err = a.routeWeights(ctx)
	if err != nil {
		t.Fatalf("read back httproute: %v", err)
	}
	if w[newSlot] != v.Weight || v.Weight != 100 || w[newSlot.Other()] != 0 || live != string(newSlot) {
		t.Errorf("at the end the HTTPRoute says live %s %v, the deployment %s %d%%; want %s live at 100", live, w, v.Slot, v.Weight, newSlot)
	}
	t.Logf("status at the end: %+v", end.Last)
}
