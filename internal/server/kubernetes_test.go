package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/driver/kubernetes"
	"github.com/bluegreen-dev/bluegreen/internal/kubetest"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// TestKubernetesDriverFromConfig: driver.kind kubernetes with a kubeconfig
// and a manifest (both relative to the config file) builds the driver,
// whose Start applies the slot's Deployment, and the controller's Router
// is the traffic mode's Switcher, whose switch writes the production
// Service.
func TestKubernetesDriverFromConfig(t *testing.T) {
	env := kubetest.Start(t, kubetest.Options{})
	ns := env.Namespace(t)
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
      containers: [{ name: web, image: "shop:old" }]
`, env.NodeName())
	yaml := fmt.Sprintf(`app: shop
driver:
  kind: kubernetes
  kubernetes:
    kubeconfig: kube/config
    namespace: %s
    manifest: deploy/shop.yaml
    image: example.invalid/shop:{version}
    replicas: 1
strategy: all-at-once
`, ns)
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

	router, err := kubeRouter(k, "a-preview-secret-of-16+")
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

func TestKubernetesRouterModeRefused(t *testing.T) {
	_, err := kubeRouter(kubeRuntime{Driver: mustKubeDriver(t, kubernetes.TrafficRouter)}, "")
	if err == nil || !strings.Contains(err.Error(), "not available yet") {
		t.Errorf("router mode: %v, want not available yet", err)
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
