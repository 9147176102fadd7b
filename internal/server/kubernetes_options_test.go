package server

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/driver/kubernetes"
)

// TestKubernetesOptionsFromConfig: driver.kubernetes.gateway and
// ingress_class reach the driver's Options, which the Switcher writes as
// the HTTPRoute's parentRef and the Ingresses' ingressClassName. Building
// the driver does not contact the API server.
func TestKubernetesOptionsFromConfig(t *testing.T) {
	dir := t.TempDir()
	kubeconfig := `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: "https://127.0.0.1:1" } }]
users: [{ name: u, user: { token: t } }]
contexts: [{ name: x, context: { cluster: c, user: u } }]
current-context: x
`
	yaml := `app: shop
strategy: linear 25% every 1m
driver:
  kind: kubernetes
  kubernetes:
    kubeconfig: kube.yaml
    namespace: shop
    image: shop:{version}
    template: { spec: { containers: [{ name: web }] } }
    traffic: gateway
    gateway: infra/public
    ingress_class: nginx
`
	for name, data := range map[string]string{"kube.yaml": kubeconfig, "bluegreen.yaml": yaml} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Load(filepath.Join(dir, "bluegreen.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rt, err := newKubeRuntime(cfg)
	if err != nil {
		t.Fatalf("newKubeRuntime: %v", err)
	}
	opts := rt.Options()
	if opts.Traffic != kubernetes.TrafficGateway || opts.Namespace != "shop" || opts.Gateway != "infra/public" || opts.IngressClass != "nginx" {
		t.Errorf("options: traffic %s namespace %q gateway %q ingress class %q; want gateway, shop, infra/public, nginx",
			opts.Traffic, opts.Namespace, opts.Gateway, opts.IngressClass)
	}
}
