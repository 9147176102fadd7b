package kubernetes

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/bluegreen-dev/bluegreen/internal/kubetest"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// The package's TestMain (kubetest.Main, one shared control plane) is in
// traffic_test.go.

// waitTimeout bounds each wait for the control plane to act.
const waitTimeout = time.Minute

// eventually polls cond until it is true, failing the test with the last
// state it described (or its last error) after waitTimeout.
func eventually(t *testing.T, what string, cond func(ctx context.Context) (bool, string, error)) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, waitTimeout, true,
		func(ctx context.Context) (bool, error) {
			ok, state, err := cond(ctx)
			if err != nil {
				last = "error: " + err.Error()
				return false, nil
			}
			last = state
			return ok, nil
		})
	if err != nil {
		t.Fatalf("%s: %v; last seen: %s", what, err, last)
	}
}

// newDriver is a driver for app shop in a namespace of the test's own, on
// the shared control plane, with a template whose pods kwok runs.
func newDriver(t *testing.T, replicas int32) (*Driver, *kubetest.Env, string) {
	t.Helper()
	env := kubetest.Shared(t)
	ns := env.Namespace(t)
	d, err := New(env.Config(), Options{
		App:       "shop",
		Namespace: ns,
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"tier": "web"}},
			Spec: corev1.PodSpec{
				NodeName: env.NodeName(), // no scheduler: kwok runs the pods bound to its node
				Containers: []corev1.Container{
					{Name: "sidecar", Image: "example.invalid/proxy:1"},
					{
						Name:  "web",
						Image: "example.invalid/shop:template",
						Env:   []corev1.EnvVar{{Name: "RELEASE", Value: "{version} in {slot}"}},
					},
				},
			},
		},
		Container: "web",
		Image:     "example.invalid/shop:{version}",
		Replicas:  replicas,
		Port:      8080,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return d, env, ns
}

func TestStartAppliesDeploymentAndServiceThenReadyAndStop(t *testing.T) {
	d, env, ns := newDriver(t, 2)
	client := env.Client()
	ctx := t.Context()

	if _, err := d.Start(ctx, slot.Green, "v2"); err != nil {
		t.Fatalf("Start: %v", err)
	}
	dep, err := client.AppsV1().Deployments(ns).Get(ctx, "shop-green", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("read back deployment: %v", err)
	}
	want := map[string]string{"app": "shop", "version": "green"}
	if dep.Labels["app"] != "shop" || dep.Labels["version"] != "green" || dep.Labels[ManagedByLabel] != "bluegreen" {
		t.Errorf("deployment labels %v", dep.Labels)
	}
	if got := dep.Spec.Selector.MatchLabels; len(got) != 2 || got["app"] != "shop" || got["version"] != "green" {
		t.Errorf("deployment selector %v, want %v", got, want)
	}
	if *dep.Spec.Replicas != 2 {
		t.Errorf("replicas %d, want 2", *dep.Spec.Replicas)
	}
	if dep.Annotations[VersionAnnotation] != "v2" {
		t.Errorf("annotations %v, want %s=v2", dep.Annotations, VersionAnnotation)
	}
	tl := dep.Spec.Template.Labels
	if tl["app"] != "shop" || tl["version"] != "green" || tl["tier"] != "web" {
		t.Errorf("template labels %v: want the template's and the slot's", tl)
	}
	cs := dep.Spec.Template.Spec.Containers
	if len(cs) != 2 || cs[0].Image != "example.invalid/proxy:1" || cs[1].Image != "example.invalid/shop:v2" {
		t.Errorf("containers %+v: want the sidecar untouched and web on example.invalid/shop:v2", cs)
	}
	if env := cs[1].Env; len(env) != 1 || env[0].Value != "v2 in green" {
		t.Errorf("env %+v, want RELEASE=v2 in green", env)
	}
	svc, err := client.CoreV1().Services(ns).Get(ctx, "shop-green", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("read back service: %v", err)
	}
	if sel := svc.Spec.Selector; len(sel) != 2 || sel["app"] != "shop" || sel["version"] != "green" {
		t.Errorf("service selector %v, want %v", sel, want)
	}
	if p := svc.Spec.Ports; len(p) != 1 || p[0].Port != 8080 || p[0].TargetPort.IntValue() != 8080 {
		t.Errorf("service ports %+v, want 8080 → 8080", p)
	}

	eventually(t, "shop-green ready", func(ctx context.Context) (bool, string, error) {
		r, n, err := d.Ready(ctx, slot.Green)
		return r == 2 && n == 2, fmt.Sprintf("%d/%d ready", r, n), err
	})
	addrs, err := d.Start(ctx, slot.Green, "v2") // again: idempotent, now with addresses
	if err != nil {
		t.Fatalf("Start again: %v", err)
	}
	if len(addrs) != 2 || !strings.HasPrefix(addrs[0], "10.") || !strings.HasSuffix(addrs[0], ":8080") {
		t.Fatalf("addresses %v: want 2 pod IPs on port 8080", addrs)
	}
	again, err := client.AppsV1().Deployments(ns).Get(ctx, "shop-green", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("read back deployment: %v", err)
	}
	if again.Generation != dep.Generation {
		t.Errorf("a second Start of the same version changed the spec: generation %d → %d", dep.Generation, again.Generation)
	}
	if got := d.Running(slot.Green); !slices.Equal(got, addrs) {
		t.Errorf("Running = %v, want %v", got, addrs)
	}
	if got := d.Running(slot.Blue); got != nil {
		t.Errorf("Running(blue), never started = %v, want nil", got)
	}
	if why, err := d.Stuck(ctx, slot.Green); why != "" || err != nil {
		t.Errorf("Stuck on a ready slot = %q, %v", why, err)
	}

	if err := d.Stop(ctx, slot.Green); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	stopped, err := client.AppsV1().Deployments(ns).Get(ctx, "shop-green", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("read back deployment after Stop: %v", err)
	}
	if *stopped.Spec.Replicas != 0 || stopped.Spec.Template.Spec.Containers[1].Image != "example.invalid/shop:v2" {
		t.Errorf("after Stop: replicas %d, image %s; want 0 and the template kept",
			*stopped.Spec.Replicas, stopped.Spec.Template.Spec.Containers[1].Image)
	}
	if got := d.Running(slot.Green); got != nil {
		t.Errorf("Running after Stop = %v, want nil", got)
	}
	if err := d.Stop(ctx, slot.Blue); err != nil {
		t.Errorf("Stop of a slot never started: %v", err)
	}

	// Starting again after a Stop scales the kept Deployment back up.
	if _, err := d.Start(ctx, slot.Green, "v3"); err != nil {
		t.Fatalf("Start v3: %v", err)
	}
	eventually(t, "shop-green ready with v3", func(ctx context.Context) (bool, string, error) {
		r, n, err := d.Ready(ctx, slot.Green)
		return r == 2 && n == 2, fmt.Sprintf("%d/%d ready", r, n), err
	})
	if got := d.Running(slot.Green); len(got) != 2 {
		t.Errorf("Running after v3 = %v, want 2 addresses", got)
	}
}

// firstPod waits for a pod of slot's current Deployment and returns it.
func firstPod(t *testing.T, d *Driver, s slot.Slot) corev1.Pod {
	t.Helper()
	var pod corev1.Pod
	eventually(t, "a pod of "+d.Name(s), func(ctx context.Context) (bool, string, error) {
		pods, err := d.pods(ctx, s)
		if err != nil || len(pods) == 0 {
			return false, "no pod", err
		}
		pod = pods[0]
		return true, "", nil
	})
	return pod
}

func TestStuckOnImagePullBackOff(t *testing.T) {
	d, env, ns := newDriver(t, 1)
	client := env.Client()
	ctx := t.Context()
	if _, err := d.Start(ctx, slot.Blue, "v1"); err != nil {
		t.Fatalf("Start: %v", err)
	}
	pod := firstPod(t, d, slot.Blue)

	// What a kubelet writes for an image that cannot be pulled, written
	// through the status subresource. kwok's default stages took the pod to
	// Running and Ready already and, in the runs seen, did not write its
	// status back before Stuck read it: one UpdateStatus was enough (the
	// loop writes again only if it finds the status changed back).
	writes := 0
	eventually(t, "Stuck reports the pull failure", func(ctx context.Context) (bool, string, error) {
		p, err := client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		if !slices.ContainsFunc(p.Status.ContainerStatuses, func(c corev1.ContainerStatus) bool {
			return c.State.Waiting != nil && c.State.Waiting.Reason == "ImagePullBackOff"
		}) {
			p.Status.Phase = corev1.PodPending
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{
				Name:  "web",
				Image: "example.invalid/shop:v1",
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
					Reason:  "ImagePullBackOff",
					Message: `Back-off pulling image "example.invalid/shop:v1"`,
				}},
			}}
			if _, err := client.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
				return false, "", err
			}
			writes++
		}
		why, err := d.Stuck(ctx, slot.Blue)
		return why != "", why, err
	})
	t.Logf("status writes until Stuck saw it: %d", writes)
	why, err := d.Stuck(ctx, slot.Blue)
	if err != nil {
		t.Fatalf("Stuck: %v", err)
	}
	for _, w := range []string{pod.Name, "web", "ImagePullBackOff", `Back-off pulling image "example.invalid/shop:v1"`} {
		if !strings.Contains(why, w) {
			t.Errorf("Stuck = %q, does not say %q", why, w)
		}
	}
	t.Logf("Stuck: %s", why)
}

func TestStuckOnPodCondition(t *testing.T) {
	d, env, ns := newDriver(t, 1)
	client := env.Client()
	ctx := t.Context()
	if _, err := d.Start(ctx, slot.Blue, "v1"); err != nil {
		t.Fatalf("Start: %v", err)
	}
	pod := firstPod(t, d, slot.Blue)
	eventually(t, "Stuck reports the condition", func(ctx context.Context) (bool, string, error) {
		p, err := client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		if condition(p, corev1.PodScheduled) != corev1.ConditionFalse {
			p.Status.Conditions = []corev1.PodCondition{{
				Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
				Reason: "Unschedulable", Message: "0/1 nodes are available: 1 Insufficient memory.",
			}}
			if _, err := client.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
				return false, "", err
			}
		}
		why, err := d.Stuck(ctx, slot.Blue)
		return why != "", why, err
	})
	why, _ := d.Stuck(ctx, slot.Blue)
	for _, w := range []string{pod.Name, "PodScheduled=False", "Unschedulable", "Insufficient memory"} {
		if !strings.Contains(why, w) {
			t.Errorf("Stuck = %q, does not say %q", why, w)
		}
	}
}
