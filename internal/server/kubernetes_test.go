package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/deploy"
	"github.com/bluegreen-dev/bluegreen/internal/driver/kubernetes"
	"github.com/bluegreen-dev/bluegreen/internal/kubetest"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store"
	"github.com/bluegreen-dev/bluegreen/internal/store/sqlite"
)

// kubeConfigFile writes a bluegreen.yaml for app shop with driver.kind
// kubernetes (traffic service, all-at-once), its kubeconfig and manifest
// beside it, and loads it.
func kubeConfigFile(t *testing.T, env *kubetest.Env, ns, node string, replicas int) *config.Config {
	t.Helper()
	dir := t.TempDir()
	kubeconfig, err := os.ReadFile(env.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	manifest := fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: { name: shop }
spec:
  template:
    spec:
      nodeName: %s
      tolerations: [{ operator: Exists }]
      containers: [{ name: web, image: "shop:old" }]
`, node)
	yaml := fmt.Sprintf(`app: shop
driver:
  kind: kubernetes
  kubernetes:
    kubeconfig: kube/config
    namespace: %s
    manifest: deploy/shop.yaml
    image: example.invalid/shop:{version}
    replicas: %d
strategy: all-at-once
`, ns, replicas)
	for name, data := range map[string][]byte{
		"kube/config": kubeconfig, "deploy/shop.yaml": []byte(manifest), "bluegreen.yaml": []byte(yaml),
	} {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Load(filepath.Join(dir, "bluegreen.yaml"))
	if err != nil {
		t.Fatalf("load config: %v", err)
	}
	return cfg
}

// TestKubernetesDriverFromConfig: driver.kind kubernetes with a kubeconfig
// and a manifest (both relative to the config file) builds the driver,
// whose Start applies the slot's Deployment, and the controller's Router
// is the traffic mode's Switcher, whose switch writes the production
// Service.
func TestKubernetesDriverFromConfig(t *testing.T) {
	env := kubetest.Start(t, kubetest.Options{})
	ns := env.Namespace(t)
	cfg := kubeConfigFile(t, env, ns, env.NodeName(), 1)
	rt, err := newRuntime(cfg, nil)
	if err != nil {
		t.Fatalf("newRuntime: %v", err)
	}
	k, ok := rt.(kubeRuntime)
	if !ok {
		t.Fatalf("runtime %T, want kubeRuntime", rt)
	}
	ctx := t.Context()
	if _, err := k.Start(ctx, slot.Blue, "v1"); err != nil {
		t.Fatalf("Start: %v", err)
	}
	dep, err := env.Client().AppsV1().Deployments(ns).Get(ctx, "shop-blue", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("read back deployment: %v", err)
	}
	if img := dep.Spec.Template.Spec.Containers[0].Image; img != "example.invalid/shop:v1" || *dep.Spec.Replicas != 1 {
		t.Errorf("deployment: image %s, replicas %d; want example.invalid/shop:v1, 1", img, *dep.Spec.Replicas)
	}

	router, err := kubeRouter(k, nil, "a-preview-secret-of-16+")
	if err != nil {
		t.Fatalf("kubeRouter: %v", err)
	}
	if _, ok := router.(*kubernetes.Switcher); !ok {
		t.Fatalf("router %T, want *kubernetes.Switcher", router)
	}
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		h, n := router.SlotReady(slot.Blue)
		return n == 1 && h == 1, nil
	})
	if err != nil {
		t.Fatalf("blue never ready through the Switcher: %v", err)
	}
	if err := router.SetRoute(slot.Blue, map[slot.Slot]int{slot.Blue: 100}); err != nil {
		t.Fatalf("SetRoute: %v", err)
	}
	svc, err := env.Client().CoreV1().Services(ns).Get(ctx, "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("read back production service: %v", err)
	}
	if svc.Spec.Selector["version"] != "blue" {
		t.Errorf("production service selector %v, want version=blue", svc.Spec.Selector)
	}
}

// TestKubernetesRouterModeUsesTheRouter: in traffic router the controller
// drives bluegreen's own router (wrapped to follow the pods), not a
// Switcher.
func TestKubernetesRouterModeUsesTheRouter(t *testing.T) {
	r, err := kubeRouter(kubeRuntime{Driver: mustKubeDriver(t, kubernetes.TrafficRouter)}, routerAdapter{}, "")
	if err != nil {
		t.Fatalf("router mode: %v", err)
	}
	if _, ok := r.(podRouter); !ok {
		t.Errorf("router mode: controller router %T, want podRouter", r)
	}
}

func mustKubeDriver(t *testing.T, traffic kubernetes.Traffic) *kubernetes.Driver {
	t.Helper()
	opts := kubernetes.Options{App: "shop", Traffic: traffic}
	opts.Template.Spec.Containers = []corev1.Container{{Name: "web"}}
	d, err := kubernetes.NewForClient(nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestKubernetesStuckReleaseFailsAndTrafficStays: the controller on the
// real driver and the service traffic mode. v1 goes live on blue (the
// production Service selects blue); v2's pod cannot pull its image, so
// the deployment fails in waiting_ready at once with the pod's reason,
// long before the ready timeout, and the production Service still selects
// blue.
//
// kwok would make v2's pod Ready before the test could say otherwise (taking
// a node out of kwok's hands mid-test races with it), so the pods run on a
// node kwok never managed, and the test writes what a kubelet would: v1's
// pod Running and Ready, v2's waiting in ImagePullBackOff.
func TestKubernetesStuckReleaseFailsAndTrafficStays(t *testing.T) {
	env := kubetest.Start(t, kubetest.Options{})
	ns := env.Namespace(t)
	client := env.Client()
	ctx := t.Context()
	// A node nobody runs: the test plays its kubelet.
	const node = "no-kubelet"
	if _, err := client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create node: %v", err)
	}
	cfg := kubeConfigFile(t, env, ns, node, 1)

	rt, err := newKubeRuntime(cfg)
	if err != nil {
		t.Fatalf("newKubeRuntime: %v", err)
	}
	router, err := kubeRouter(rt, nil, "a-preview-secret-of-16+")
	if err != nil {
		t.Fatalf("kubeRouter: %v", err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	const readyTimeout = 5 * time.Minute
	ctrl, err := deploy.New(deploy.Options{
		App: "shop", Store: st, Runtime: rt, Router: router,
		Strategy: "all-at-once", ScaleDownDelay: time.Hour,
		ReadyTimeout: readyTimeout, PollInterval: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := ctrl.Restore(ctx); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ctrl.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	ended := func(id int64) store.Deployment {
		t.Helper()
		var d store.Deployment
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			d, err = st.GetDeployment(ctx, id)
			return err == nil && !d.Active, nil
		})
		if err != nil {
			t.Fatalf("deployment %d did not end: %v; last: %s (%s)", id, err, d.Phase, d.Reason)
		}
		return d
	}
	// selector is the production Service's slot once it reads want, or
	// what it reads after a deadline: the controller persists a
	// transition before it applies the route the transition announces.
	selector := func(want string) string {
		t.Helper()
		var got string
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			svc, err := client.CoreV1().Services(ns).Get(ctx, "shop", metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			got = svc.Spec.Selector["version"]
			return got == want, nil
		})
		if err != nil && got == "" {
			t.Fatalf("read back production service: %v", err)
		}
		return got
	}

	// podOf waits for the pod of slot sl and returns it.
	podOf := func(sl slot.Slot) corev1.Pod {
		t.Helper()
		var pod corev1.Pod
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=shop,version=" + string(sl)})
			if err != nil || len(pods.Items) == 0 {
				return false, nil
			}
			pod = pods.Items[0]
			return true, nil
		})
		if err != nil {
			t.Fatalf("no pod in %s: %v", sl, err)
		}
		return pod
	}
	writeStatus := func(pod corev1.Pod) {
		t.Helper()
		if _, err := client.CoreV1().Pods(ns).UpdateStatus(ctx, &pod, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("write the status of pod %s: %v", pod.Name, err)
		}
	}

	first, err := ctrl.Deploy(ctx, "v1", "")
	if err != nil {
		t.Fatalf("deploy v1: %v", err)
	}
	blue := podOf(slot.Blue)
	now := metav1.Now()
	blue.Status = corev1.PodStatus{
		Phase: corev1.PodRunning, PodIP: "10.9.0.1", PodIPs: []corev1.PodIP{{IP: "10.9.0.1"}}, StartTime: &now,
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "web", Image: "example.invalid/shop:v1", Ready: true,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}},
	}
	writeStatus(blue)
	if d := ended(first.ID); d.Phase != string(deploy.PhaseSucceeded) || d.Slot != slot.Blue {
		t.Fatalf("v1: %s in %s (%s), want succeeded in blue", d.Phase, d.Slot, d.Reason)
	}
	if got := selector("blue"); got != "blue" {
		t.Fatalf("production service selects %q after v1, want blue", got)
	}

	began := time.Now()
	second, err := ctrl.Deploy(ctx, "v2", "")
	if err != nil {
		t.Fatalf("deploy v2: %v", err)
	}
	pod := podOf(slot.Green)
	pod.Status.Phase = corev1.PodPending
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name:  "web",
		Image: "example.invalid/shop:v2",
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
			Reason:  "ImagePullBackOff",
			Message: `Back-off pulling image "example.invalid/shop:v2"`,
		}},
	}}
	writeStatus(pod)

	d := ended(second.ID)
	took := time.Since(began)
	if d.Phase != string(deploy.PhaseFailed) || d.TrafficMoved {
		t.Fatalf("v2: %s (moved %v, %s), want failed before traffic moved", d.Phase, d.TrafficMoved, d.Reason)
	}
	for _, want := range []string{"v2 in green cannot start", pod.Name, "ImagePullBackOff", "no user traffic reached it"} {
		if !strings.Contains(d.Reason, want) {
			t.Errorf("reason %q does not say %q", d.Reason, want)
		}
	}
	if took >= readyTimeout {
		t.Errorf("failed after %s: it waited for the ready timeout", took)
	}
	// The failure happened in waiting_ready: an event records each phase
	// entered, so the one before the failed event is the phase it failed
	// from, and only awaitReady's stuck path writes the pod's reason as
	// the failed event's "stuck".
	evs, err := st.Events(ctx, second.ID)
	if err != nil {
		t.Fatalf("events of v2: %v", err)
	}
	var phases []string
	for _, ev := range evs {
		phases = append(phases, ev.Phase)
	}
	last := len(evs) - 1
	if last < 1 || evs[last].Phase != string(deploy.PhaseFailed) || evs[last-1].Phase != string(deploy.PhaseWaitingReady) {
		t.Fatalf("v2 phases %v: want failed straight from waiting_ready", phases)
	}
	for _, p := range phases {
		switch deploy.Phase(p) {
		case deploy.PhaseVerifying, deploy.PhaseShifting, deploy.PhaseBaking, deploy.PhaseSucceeded:
			t.Errorf("v2 phases %v: reached %s before failing", phases, p)
		}
	}
	var failed struct {
		Stuck  string `json:"stuck"`
		Weight *int   `json:"weight"`
	}
	if err := json.Unmarshal(evs[last].Data, &failed); err != nil {
		t.Fatalf("failed event data %s: %v", evs[last].Data, err)
	}
	if !strings.Contains(failed.Stuck, "ImagePullBackOff") || !strings.Contains(failed.Stuck, pod.Name) {
		t.Errorf("failed event's stuck %q, want the pod %s's reason ImagePullBackOff", failed.Stuck, pod.Name)
	}
	if failed.Weight == nil || *failed.Weight != 0 {
		t.Errorf("failed event data %s: want weight 0 on green", evs[last].Data)
	}
	t.Logf("v2 phases %v; failed event data %s", phases, evs[last].Data)
	t.Logf("v2 failed %s after deploy: %s", took.Round(time.Millisecond), d.Reason)
	if got := selector("blue"); got != "blue" {
		t.Errorf("production service selects %q after the failed v2, want blue", got)
	}
}
