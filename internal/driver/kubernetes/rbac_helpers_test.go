package kubernetes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// manifestDir is deploy/kubernetes, seen from this package's directory.
const manifestDir = "../../../deploy/kubernetes"

// readManifest decodes the one object of deploy/kubernetes/name into obj;
// unknown fields are errors.
func readManifest(t *testing.T, name string, obj any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(manifestDir, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, obj); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// manifestObjects are the documents of deploy/kubernetes/name.
func manifestObjects(t *testing.T, name string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(manifestDir, name))
	if err != nil {
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return objs
			}
			t.Fatalf("%s: %v", name, err)
		}
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(raw); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		objs = append(objs, obj)
	}
}

// rbacOptions are the driver's options for the RBAC test: app shop in ns,
// pods kwok runs on node.
func rbacOptions(ns, node string, mode Traffic) Options {
	opts := testOptions(ns, mode)
	opts.Replicas = 1
	opts.Image = "example.invalid/shop:{version}"
	opts.Template = corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		NodeName:   node, // no scheduler: kwok runs the pods bound to its node
		Containers: []corev1.Container{{Name: "web", Image: "example.invalid/shop:template"}},
	}}
	return opts
}

// rbacReadyTimeout bounds the wait for one slot's pods in deploymentOps.
const rbacReadyTimeout = time.Minute

// deploymentOps does under cfg what a deployment asks of the kubernetes
// driver and of each traffic mode, and returns the first error: for blue
// (v1) then green (v2), Start, Ready until all are ready, Stuck, Version;
// then per mode (service, ingress-nginx, gateway) a new Switcher routes
// everything to blue, a weighted step (not in service mode), and the
// switch to green; last Stop of blue, the old slot.
func deploymentOps(ctx context.Context, cfg *rest.Config, ns, node string) error {
	d, err := New(cfg, rbacOptions(ns, node, TrafficService))
	if err != nil {
		return err
	}
	for i, s := range []slot.Slot{slot.Blue, slot.Green} {
		version := fmt.Sprintf("v%d", i+1)
		if _, err := d.Start(ctx, s, version); err != nil {
			return fmt.Errorf("start %s: %w", s, err)
		}
		if err := waitSlotReady(ctx, d, s); err != nil {
			return err
		}
		why, err := d.Stuck(ctx, s)
		if err != nil {
			return fmt.Errorf("stuck %s: %w", s, err)
		}
		if why != "" {
			return fmt.Errorf("stuck %s: %s", s, why)
		}
		if got, _, err := d.Version(ctx, s); err != nil || got != version {
			return fmt.Errorf("version of %s: %q, %v; want %s", s, got, err, version)
		}
	}
	for _, mode := range []Traffic{TrafficService, TrafficIngressNginx, TrafficGateway} {
		sw, err := NewSwitcher(cfg, rbacOptions(ns, node, mode), d.Ready)
		if err != nil {
			return err
		}
		routes := []struct {
			live    slot.Slot
			weights map[slot.Slot]int
		}{
			{slot.Blue, nil},
			{slot.Blue, map[slot.Slot]int{slot.Blue: 75, slot.Green: 25}},
			{slot.Green, nil},
		}
		for _, r := range routes {
			if mode == TrafficService && r.weights != nil {
				continue
			}
			if err := sw.SetRoute(r.live, r.weights); err != nil {
				return fmt.Errorf("set route: %w", err)
			}
		}
	}
	if err := d.Stop(ctx, slot.Blue); err != nil {
		return fmt.Errorf("stop blue: %w", err)
	}
	return nil
}

// waitSlotReady polls Ready until all of slot's pods are ready; an error
// from Ready is returned at once.
func waitSlotReady(ctx context.Context, d *Driver, s slot.Slot) error {
	ctx, cancel := context.WithTimeout(ctx, rbacReadyTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ready, total, err := d.Ready(ctx, s)
		if err != nil {
			return fmt.Errorf("ready %s: %w", s, err)
		}
		if total > 0 && ready == total {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("ready %s: %d/%d after %s", s, ready, total, rbacReadyTimeout)
		case <-tick.C:
		}
	}
}

// withoutVerb is rules with verb taken out of rules[i]; a rule left with
// no verb is dropped (the API refuses a rule without verbs).
func withoutVerb(rules []rbacv1.PolicyRule, i int, verb string) []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	for j, r := range rules {
		r = *r.DeepCopy()
		if j == i {
			var verbs []string
			for _, v := range r.Verbs {
				if v != verb {
					verbs = append(verbs, v)
				}
			}
			if len(verbs) == 0 {
				continue
			}
			r.Verbs = verbs
		}
		out = append(out, r)
	}
	return out
}

// setRules writes rules into the Role name in ns, as the admin.
func setRules(ctx context.Context, client interface {
	Get(context.Context, string, metav1.GetOptions) (*rbacv1.Role, error)
	Update(context.Context, *rbacv1.Role, metav1.UpdateOptions) (*rbacv1.Role, error)
}, name string, rules []rbacv1.PolicyRule) error {
	role, err := client.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	role.Rules = rules
	_, err = client.Update(ctx, role, metav1.UpdateOptions{})
	return err
}

// resetObjects deletes, as the admin, every object deploymentOps makes in
// ns, so that each run creates them again: a first deployment, whose
// server-side applies create.
func resetObjects(ctx context.Context, client kubernetes.Interface, dyn dynamic.Interface, ns string) error {
	bg := metav1.DeletePropagationBackground
	del := metav1.DeleteOptions{PropagationPolicy: &bg}
	ignore := func(err error) error {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	var errs []error
	for _, name := range []string{"shop-blue", "shop-green"} {
		errs = append(errs, ignore(client.AppsV1().Deployments(ns).Delete(ctx, name, del)))
	}
	for _, name := range []string{"shop-blue", "shop-green", "shop", "shop-preview"} {
		errs = append(errs, ignore(client.CoreV1().Services(ns).Delete(ctx, name, del)))
	}
	for _, name := range []string{"shop", "shop-canary"} {
		errs = append(errs, ignore(client.NetworkingV1().Ingresses(ns).Delete(ctx, name, del)))
	}
	errs = append(errs, ignore(dyn.Resource(httpRoutes).Namespace(ns).Delete(ctx, "shop", del)))
	return errors.Join(errs...)
}
