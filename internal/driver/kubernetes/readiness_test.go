package kubernetes

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestReadinessRule(t *testing.T) {
	dep := func(replicas, gen, observed, total, updated, ready, available int32) *appsv1.Deployment {
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Generation: int64(gen)},
			Spec:       appsv1.DeploymentSpec{Replicas: &replicas},
			Status: appsv1.DeploymentStatus{ObservedGeneration: int64(observed), Replicas: total,
				UpdatedReplicas: updated, ReadyReplicas: ready, AvailableReplicas: available},
		}
	}
	for _, tc := range []struct {
		name     string
		d        *appsv1.Deployment
		minReady int
		want     int
	}{
		{"all ready", dep(4, 2, 2, 4, 4, 4, 4), 100, 4},
		{"status of the previous spec", dep(4, 3, 2, 4, 4, 4, 4), 100, 3},
		{"one not available", dep(4, 2, 2, 4, 4, 4, 3), 100, 3},
		{"80% of 5 is 4", dep(5, 1, 1, 5, 5, 4, 4), 80, 5},
		{"80% of 4 rounds up to 4", dep(4, 1, 1, 4, 4, 3, 3), 80, 3},
		{"old pods do not count", dep(2, 2, 2, 4, 2, 2, 2), 100, 0},
		{"scaled to 0", dep(0, 2, 2, 0, 0, 0, 0), 100, 0},
	} {
		if got := readiness(tc.d, tc.minReady); got != tc.want {
			t.Errorf("%s: ready %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestPodStuck(t *testing.T) {
	pod := func(st corev1.PodStatus) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "shop-blue-1"}, Status: st}
	}
	waiting := func(reason string) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: "web", State: corev1.ContainerState{
			Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: "back-off\n 10s"}}}
	}
	for _, tc := range []struct {
		name string
		p    *corev1.Pod
		want string
	}{
		{"creating", pod(corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{waiting("ContainerCreating")}}), ""},
		{"crash loop", pod(corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{waiting("CrashLoopBackOff")}}),
			"pod shop-blue-1, container web: CrashLoopBackOff: back-off 10s"},
		{"init container exits", pod(corev1.PodStatus{InitContainerStatuses: []corev1.ContainerStatus{{Name: "migrate",
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3}}}}}),
			"pod shop-blue-1, container migrate: Error, exit code 3"},
		{"exit 0", pod(corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "web",
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}}}}), ""},
		{"not ready yet", pod(corev1.PodStatus{Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady"}}}), ""},
		{"ready false for a reason", pod(corev1.PodStatus{Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "BadRelease", Message: "never"}}}),
			"pod shop-blue-1: Ready=False: BadRelease: never"},
	} {
		if got := podStuck(tc.p); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestTemplateFromManifest(t *testing.T) {
	manifest := `apiVersion: v1
kind: Service
metadata: { name: shop }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: shop }
spec:
  replicas: 7
  template:
    metadata: { labels: { tier: web } }
    spec:
      containers: [{ name: web, image: "shop:1", ports: [{ containerPort: 80 }] }]
`
	tmpl, err := TemplateFromManifest([]byte(manifest))
	if err != nil {
		t.Fatalf("TemplateFromManifest: %v", err)
	}
	if tmpl.Labels["tier"] != "web" || len(tmpl.Spec.Containers) != 1 || tmpl.Spec.Containers[0].Image != "shop:1" {
		t.Errorf("template %+v", tmpl)
	}
	if _, err := TemplateFromManifest([]byte("kind: Service\n")); err == nil || !strings.Contains(err.Error(), "no Deployment") {
		t.Errorf("a manifest without a Deployment: %v", err)
	}
	bad := strings.Replace(manifest, "containers:", "containerz:", 1)
	if _, err := TemplateFromManifest([]byte(bad)); err == nil || !strings.Contains(err.Error(), "containerz") {
		t.Errorf("a misspelt key: %v", err)
	}
	inline, err := TemplateFromMap(map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"name": "web"}}}})
	if err != nil || len(inline.Spec.Containers) != 1 {
		t.Errorf("TemplateFromMap: %+v, %v", inline, err)
	}
}
