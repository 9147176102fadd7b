package server

import (
	"context"
	"fmt"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/deploy"
	"github.com/bluegreen-dev/bluegreen/internal/driver/kubernetes"
	"github.com/bluegreen-dev/bluegreen/internal/router"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// kubeRuntime is the kubernetes driver: what runs is what the API server
// says runs. It keeps the client configuration for the traffic modes.
type kubeRuntime struct {
	*kubernetes.Driver
	rest *rest.Config
}

var _ runtime = kubeRuntime{}

// Instances is nil: a slot's instances are its Deployment's pods, which
// the status reads from the router (router mode) or not at all.
func (kubeRuntime) Instances(slot.Slot) any { return nil }

// Close does nothing: the Deployments keep running without bluegreen.
func (kubeRuntime) Close(context.Context) error { return nil }

// newKubeRuntime builds the kubernetes driver from driver.kubernetes.
func newKubeRuntime(cfg *config.Config) (kubeRuntime, error) {
	k := cfg.Driver.Kubernetes
	rc, err := kubeConfig(cfg.KubeconfigPath())
	if err != nil {
		return kubeRuntime{}, fmt.Errorf("kubernetes driver: %w", err)
	}
	tmpl, err := kubeTemplate(cfg)
	if err != nil {
		return kubeRuntime{}, fmt.Errorf("kubernetes driver: %w", err)
	}
	d, err := kubernetes.New(rc, kubernetes.Options{
		App:           cfg.App,
		Namespace:     k.Namespace,
		Template:      tmpl,
		Container:     k.Container,
		Image:         k.Image,
		Replicas:      int32(k.Replicas),
		MinReady:      int(k.MinReady),
		SlotLabel:     k.SlotLabel,
		Traffic:       kubernetes.Traffic(k.Traffic),
		Port:          int32(k.Port),
		PreviewHeader: cfg.Routing.PreviewHeader.Name,
		Gateway:       k.Gateway,
		IngressClass:  k.IngressClass,
	})
	if err != nil {
		return kubeRuntime{}, err
	}
	return kubeRuntime{Driver: d, rest: rc}, nil
}

// kubeConfig is the client configuration: the kubeconfig file at path;
// without one, the pod's service account when running in a cluster, else
// $KUBECONFIG or ~/.kube/config as kubectl reads them.
func kubeConfig(path string) (*rest.Config, error) {
	if path != "" {
		rc, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			return nil, fmt.Errorf("driver.kubernetes.kubeconfig %s: %w", path, err)
		}
		return rc, nil
	}
	if os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
		rc, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster config: %w", err)
		}
		return rc, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("no driver.kubernetes.kubeconfig, not in a pod, and $KUBECONFIG or ~/.kube/config: %w", err)
	}
	return rc, nil
}

// kubeTemplate is the pod template of driver.kubernetes.manifest or
// driver.kubernetes.template.
func kubeTemplate(cfg *config.Config) (tmpl corev1.PodTemplateSpec, err error) {
	if path := cfg.ManifestPath(); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return tmpl, fmt.Errorf("driver.kubernetes.manifest: %w", err)
		}
		if tmpl, err = kubernetes.TemplateFromManifest(data); err != nil {
			return tmpl, fmt.Errorf("driver.kubernetes.manifest %s: %w", path, err)
		}
		return tmpl, nil
	}
	if tmpl, err = kubernetes.TemplateFromMap(cfg.Driver.Kubernetes.Template); err != nil {
		return tmpl, fmt.Errorf("driver.kubernetes.template: %w", err)
	}
	return tmpl, nil
}

// kubeRouter is the controller's Router for the kubernetes driver: in the
// router traffic mode, bluegreen's own router (r) fed with the slots'
// endpoints, a slot counting ready once its Deployment is; in the other
// modes the Switcher, which moves traffic by writing the mode's objects
// and counts a slot ready by its Deployment.
func kubeRouter(rt kubeRuntime, r deploy.Router, previewSecret string) (deploy.Router, error) {
	opts := rt.Options()
	if opts.Traffic == kubernetes.TrafficRouter {
		return podRouter{Router: r, rt: rt}, nil
	}
	opts.PreviewSecret = previewSecret
	sw, err := kubernetes.NewSwitcher(rt.rest, opts, rt.Ready)
	if err != nil {
		return nil, err
	}
	return sw, nil
}

// podRouter is bluegreen's router in front of a slot's pods (traffic:
// router). The pods' addresses come from their EndpointSlices
// (feedEndpoints), not from the controller, which sees only the ones
// ready when it starts a slot.
type podRouter struct {
	deploy.Router
	rt kubeRuntime
}

// SetBackends does nothing: the endpoints are the one source of a slot's
// addresses (feedEndpoints), and what the controller passes (Start's
// ready pods, none after a stop) is a stale snapshot of them. A stopped
// slot's pods leave its endpoints as they terminate.
func (podRouter) SetBackends(slot.Slot, []string, bool) {}

// SlotReady counts a slot ready when both say so: its Deployment (every
// pod of the release ready, min_ready) and the router's own health checks
// of the endpoints. Until the Deployment is ready the slot is short of
// its replicas, so that a slot whose first pod is up does not count as
// ready.
func (p podRouter) SlotReady(sl slot.Slot) (healthy, total int) {
	healthy, total = p.Router.SlotReady(sl)
	ctx, cancel := context.WithTimeout(context.Background(), readyReadTimeout)
	defer cancel()
	ready, want, err := p.rt.Ready(ctx, sl)
	if err != nil || want == 0 || ready < want {
		replicas := int(p.rt.Options().Replicas)
		return min(healthy, ready), max(total, replicas, want, 1)
	}
	return healthy, total
}

// readyReadTimeout bounds SlotReady's read of the Deployment.
const readyReadTimeout = 10 * time.Second

// feedEndpoints gives the router the ready endpoints of each slot's
// Service as they change, until ctx ends (traffic: router). The pods
// already ready when serve starts stay in rotation; later ones pass the
// router's health checks first.
func (k kubeRuntime) feedEndpoints(ctx context.Context, r *router.Router) error {
	if k.Options().Traffic != kubernetes.TrafficRouter {
		return nil
	}
	err := k.WatchEndpoints(ctx, func(sl slot.Slot, addrs []string, initial bool) {
		r.SetBackends(sl, addrs, initial)
	})
	if err != nil {
		return fmt.Errorf("kubernetes traffic router: %w", err)
	}
	<-ctx.Done()
	return nil
}
