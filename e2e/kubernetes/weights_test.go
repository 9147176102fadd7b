package kubee2e

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/bluegreen-dev/bluegreen/internal/kubetest"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

var httpRoutes = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}

// routeWeights reads the weights of the HTTPRoute <app> per slot, from
// its rule with both slots' Services, and its live-slot annotation.
func (a *kubeApp) routeWeights(ctx context.Context) (map[slot.Slot]int, string, error) {
	dyn, err := dynamic.NewForConfig(a.env.Config())
	if err != nil {
		return nil, "", err
	}
	obj, err := dyn.Resource(httpRoutes).Namespace(a.ns).Get(ctx, appName, metav1.GetOptions{})
	if err != nil {
		return nil, "", err
	}
	rules, _, err := unstructured.NestedSlice(obj.Object, "spec", "rules")
	if err != nil {
		return nil, "", err
	}
	for _, r := range rules {
		refs, _, _ := unstructured.NestedSlice(r.(map[string]any), "backendRefs")
		if len(refs) != 2 {
			continue
		}
		w := map[slot.Slot]int{}
		for _, ref := range refs {
			m := ref.(map[string]any)
			name, _ := m["name"].(string)
			weight, _ := m["weight"].(int64)
			for _, s := range slot.All() {
				if name == appName+"-"+string(s) {
					w[s] = int(weight)
				}
			}
		}
		return w, obj.GetAnnotations()["bluegreen.dev/live"], nil
	}
	return nil, "", fmt.Errorf("httproute %s has no rule with both slots", appName)
}

// ingressWeight reads the percent of slot s in the ingress-nginx objects:
// the canary Ingress's canary-weight when it reaches s, 100 minus it when
// the main Ingress does; and the Services the two reach.
func (a *kubeApp) ingressWeight(ctx context.Context, s slot.Slot) (weight int, main, canary string, err error) {
	ings := a.client.NetworkingV1().Ingresses(a.ns)
	m, err := ings.Get(ctx, appName, metav1.GetOptions{})
	if err != nil {
		return 0, "", "", err
	}
	c, err := ings.Get(ctx, appName+"-canary", metav1.GetOptions{})
	if err != nil {
		return 0, "", "", err
	}
	main = m.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name
	canary = c.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name
	if c.Annotations["nginx.ingress.kubernetes.io/canary"] != "true" {
		return 0, main, canary, fmt.Errorf("ingress %s-canary is not a canary: %v", appName, c.Annotations)
	}
	cw, err := strconv.Atoi(c.Annotations["nginx.ingress.kubernetes.io/canary-weight"])
	if err != nil {
		return 0, main, canary, fmt.Errorf("canary-weight: %w", err)
	}
	own := appName + "-" + string(s)
	switch {
	case canary == own && main != own:
		return cw, main, canary, nil
	case main == own && canary != own:
		return 100 - cw, main, canary, nil
	case main == own && canary == own:
		return 100, main, canary, nil
	}
	return 0, main, canary, nil
}

// routeTimeline follows slot s's weight in the HTTPRoute from now on.
func (a *kubeApp) routeTimeline(s slot.Slot) *timeline {
	tl := &timeline{}
	tl.poll(a.t, func(ctx context.Context) (string, error) {
		w, _, err := a.routeWeights(ctx)
		if err != nil {
			return "", err
		}
		return strconv.Itoa(w[s]), nil
	})
	return tl
}

// TestGatewayLinearWeights: traffic gateway, linear 25% every 2s. v2's
// slot gets 25, 50, 75 and 100 percent in that order, each step an event
// of the deployment with its data.weight and each seen in the HTTPRoute,
// which at the end gives v2's slot 100 and the old one 0 and names v2's
// slot live.
func TestGatewayLinearWeights(t *testing.T) {
	kubetest.Shared(t).InstallGatewayAPI(t)
	a := newKubeApp(t, kubeOptions{traffic: "gateway", gateway: "shop-gateway",
		strategy: "linear 25% every 2s", bake: "1s", scaleDownDelay: "2s"})
	var newSlot slot.Slot = slot.Green // v1, the first release, goes into blue
	tl := a.routeTimeline(newSlot)
	a.start()
	a.deployWeighted(t, "v1", nil)
	v2 := a.deployWeighted(t, "v2", tl)

	w, live, err := a.routeWeights(t.Context())
	if err != nil {
		t.Fatalf("read back httproute: %v", err)
	}
	if w[v2.Slot] != 100 || w[v2.Slot.Other()] != 0 || live != string(v2.Slot) {
		t.Errorf("httproute at the end: weights %v, live %q; want %s 100, %s 0, live %s", w, live, v2.Slot, v2.Slot.Other(), v2.Slot)
	}
	dyn, err := dynamic.NewForConfig(a.env.Config())
	if err != nil {
		t.Fatal(err)
	}
	obj, err := dyn.Resource(httpRoutes).Namespace(a.ns).Get(t.Context(), appName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	parents, _, _ := unstructured.NestedSlice(obj.Object, "spec", "parentRefs")
	if len(parents) != 1 || parents[0].(map[string]any)["name"] != "shop-gateway" {
		t.Errorf("httproute parentRefs %v, want the Gateway shop-gateway of driver.kubernetes.gateway", parents)
	}
	waitFor(t, time.Minute, "the old deployment to scale to 0", func() bool {
		return *a.deploymentObject(v2.Slot.Other()).Spec.Replicas == 0
	})
}

// TestIngressNginxLinearWeights: the same with traffic ingress-nginx:
// the canary Ingress's canary-weight for v2's slot goes 25, 50, 75, and
// then the main Ingress reaches v2's slot and the canary the old one at 0.
func TestIngressNginxLinearWeights(t *testing.T) {
	a := newKubeApp(t, kubeOptions{traffic: "ingress-nginx", strategy: "linear 25% every 2s", bake: "1s", scaleDownDelay: "2s"})
	var newSlot slot.Slot = slot.Green
	tl := &timeline{}
	tl.poll(t, func(ctx context.Context) (string, error) {
		w, _, _, err := a.ingressWeight(ctx, newSlot)
		if err != nil {
			return "", err
		}
		return strconv.Itoa(w), nil
	})
	a.start()
	a.deployWeighted(t, "v1", nil)
	v2 := a.deployWeighted(t, "v2", tl)

	w, main, canary, err := a.ingressWeight(t.Context(), v2.Slot)
	if err != nil {
		t.Fatalf("read back ingresses: %v", err)
	}
	if w != 100 || main != appName+"-"+string(v2.Slot) || canary != appName+"-"+string(v2.Slot.Other()) {
		t.Errorf("ingresses at the end: main → %s, canary → %s, %s has %d%%; want main → %s-%s, canary → %s-%s at 0",
			main, canary, v2.Slot, w, appName, v2.Slot, appName, v2.Slot.Other())
	}
	c, err := a.client.NetworkingV1().Ingresses(a.ns).Get(t.Context(), appName+"-canary", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Annotations["nginx.ingress.kubernetes.io/canary-weight"]; got != "0" {
		t.Errorf("canary-weight at the end %q, want 0", got)
	}
	waitFor(t, time.Minute, "the old deployment to scale to 0", func() bool {
		return *a.deploymentObject(v2.Slot.Other()).Spec.Replicas == 0
	})
}

// deployWeighted deploys version and waits for success. With tl (the
// new slot's weight in the route object) it checks that the events'
// weights and the object's went 25, 50, 75, 100 in order, and logs the
// time and the API writes.
func (a *kubeApp) deployWeighted(t *testing.T, version string, tl *timeline) deploymentView {
	t.Helper()
	before := a.counter.snapshot()
	began := time.Now()
	id := a.deploy(version)
	v := a.waitEnded(id, 2*time.Minute)
	if v.Phase != "succeeded" {
		t.Fatalf("%s: %s (%s), want succeeded; phases %v", version, v.Phase, v.Reason, phasesOf(v.Events))
	}
	writes, total := a.counter.writesSince(before)
	t.Logf("%s into %s: %s from deploy to succeeded; %d API writes: %s; phases %v; event weights %v",
		version, v.Slot, time.Since(began).Round(time.Millisecond), total, formatCounts(writes), phasesOf(v.Events), weightsOf(t, v.Events))
	if tl == nil {
		return v
	}
	want := []int{25, 50, 75, 100}
	if got := weightsOf(t, v.Events); !slices.Equal(got, want) {
		t.Errorf("%s: event weights %v, want %v", version, got, want)
	}
	seen := tl.seq()
	var objWeights []int
	for _, s := range seen {
		n, _ := strconv.Atoi(s)
		if len(objWeights) == 0 && n == 0 {
			continue
		}
		objWeights = append(objWeights, n)
	}
	if !slices.Equal(objWeights, want) {
		t.Errorf("%s: the route object gave %s %v%% in turn, want %v", version, v.Slot, seen, want)
	}
	for _, w := range want {
		at := tl.first(strconv.Itoa(w), began)
		t.Logf("%s: %d%% in the route object %s after deploy", version, w, at.Sub(began).Round(time.Millisecond))
	}
	return v
}
