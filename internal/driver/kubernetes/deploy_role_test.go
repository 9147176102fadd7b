// The manifests of deploy/kubernetes on the test control plane: the Role
// is enough for a deployment in every traffic mode and every one of its
// verbs is needed; every object passes a server-side dry run.

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
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"

	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/kubetest"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// rbacSettle bounds how long a Role's change may take to reach the API
// server's authorizer (it reads Roles from an informer).
const rbacSettle = 30 * time.Second

// TestRoleIsEnoughAndEveryVerbIsNeeded runs what a deployment asks of the
// driver and of each traffic mode as the ServiceAccount of
// deploy/kubernetes, bound to the Role of deploy/kubernetes/role.yaml:
// everything succeeds. Then, for each verb of each rule, the Role without
// that one verb makes the same run fail with the API server's Forbidden
// error naming the verb and the resource.
func TestRoleIsEnoughAndEveryVerbIsNeeded(t *testing.T) {
	env := kubetest.Shared(t)
	env.InstallGatewayAPI(t)
	ns := env.Namespace(t)
	ctx := t.Context()
	client := env.Client()

	var sa corev1.ServiceAccount
	var role rbacv1.Role
	var binding rbacv1.RoleBinding
	readManifest(t, "serviceaccount.yaml", &sa)
	readManifest(t, "role.yaml", &role)
	readManifest(t, "rolebinding.yaml", &binding)
	sa.Namespace, role.Namespace, binding.Namespace = ns, ns, ns
	for i := range binding.Subjects {
		binding.Subjects[i].Namespace = ns
	}
	if _, err := client.CoreV1().ServiceAccounts(ns).Create(ctx, &sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.RbacV1().Roles(ns).Create(ctx, &role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.RbacV1().RoleBindings(ns).Create(ctx, &binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg := env.ServiceAccountConfig(t, ns, sa.Name)
	roles := client.RbacV1().Roles(ns)
	dyn, err := dynamic.NewForConfig(env.Config())
	if err != nil {
		t.Fatal(err)
	}
	// run is one deployment from scratch under the Role.
	run := func(t *testing.T) error {
		t.Helper()
		if err := resetObjects(ctx, client, dyn, ns); err != nil {
			t.Fatal(err)
		}
		return deploymentOps(ctx, cfg, ns, env.NodeName())
	}

	// allowed runs the operations until they succeed: a Role just written
	// may take a moment to reach the authorizer.
	allowed := func(t *testing.T) {
		t.Helper()
		start := time.Now()
		var err error
		for time.Since(start) < rbacSettle {
			if err = run(t); err == nil {
				t.Logf("the operations succeed under the full Role (%s)", time.Since(start).Round(time.Millisecond))
				return
			}
		}
		t.Fatalf("under the Role of deploy/kubernetes/role.yaml: %v", err)
	}
	allowed(t)

	for i, rule := range role.Rules {
		for _, verb := range rule.Verbs {
			for _, resource := range rule.Resources {
				group := rule.APIGroups[0]
				t.Run(fmt.Sprintf("without %s %s", verb, resource), func(t *testing.T) {
					if err := setRules(ctx, roles, role.Name, withoutVerb(role.Rules, i, verb)); err != nil {
						t.Fatal(err)
					}
					defer func() {
						if err := setRules(ctx, roles, role.Name, role.Rules); err != nil {
							t.Fatal(err)
						}
						allowed(t)
					}()
					want := fmt.Sprintf("cannot %s resource %q in API group %q", verb, resource, group)
					start := time.Now()
					for {
						err := run(t)
						if err != nil {
							if !strings.Contains(err.Error(), want) {
								t.Fatalf("without %s on %s: %v\nwant an error saying %s", verb, resource, err, want)
							}
							t.Logf("fails as it should: %v", err)
							return
						}
						if time.Since(start) > rbacSettle {
							t.Fatalf("without %s on %s everything still succeeds after %s: the Role grants a verb nothing uses", verb, resource, rbacSettle)
						}
					}
				})
			}
		}
	}
}

// TestDeployManifestsAreValid checks deploy/kubernetes as a user would
// apply it: kustomization.yaml lists every manifest; the API server takes
// every object (a server-side dry run, in a test namespace); and the
// ConfigMap's bluegreen.yaml is a valid config.
func TestDeployManifestsAreValid(t *testing.T) {
	var kust struct {
		APIVersion string           `json:"apiVersion"`
		Kind       string           `json:"kind"`
		Namespace  string           `json:"namespace"`
		Resources  []string         `json:"resources"`
		Images     []map[string]any `json:"images"`
	}
	readManifest(t, "kustomization.yaml", &kust)
	files, err := filepath.Glob(filepath.Join(manifestDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if name := filepath.Base(f); name != "kustomization.yaml" && !slices.Contains(kust.Resources, name) {
			t.Errorf("kustomization.yaml does not list %s", name)
		}
	}

	env := kubetest.Shared(t)
	ns := env.Namespace(t)
	dyn, err := dynamic.NewForConfig(env.Config())
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(env.Client().Discovery()))
	for _, file := range kust.Resources {
		for _, obj := range manifestObjects(t, file) {
			if got := obj.GetNamespace(); obj.GetKind() != "Namespace" && got != kust.Namespace {
				t.Errorf("%s: %s %s in namespace %q, want %q as the kustomization", file, obj.GetKind(), obj.GetName(), got, kust.Namespace)
			}
			gvk := obj.GroupVersionKind()
			m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			res := dyn.Resource(m.Resource)
			var ri dynamic.ResourceInterface = res
			if m.Scope.Name() == "namespace" {
				obj.SetNamespace(ns)
				ri = res.Namespace(ns)
			}
			if _, err := ri.Create(t.Context(), obj, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"}); err != nil {
				t.Errorf("%s: %s %s: %v", file, obj.GetKind(), obj.GetName(), err)
			}
			if obj.GetKind() == "ConfigMap" {
				data, _, _ := unstructured.NestedString(obj.Object, "data", "bluegreen.yaml")
				getenv := func(k string) (string, bool) {
					if k == "BLUEGREEN_STATE" {
						return "postgres://bluegreen:secret@postgres.bluegreen:5432/bluegreen", true
					}
					return "", false
				}
				if _, err := config.Parse("/etc/bluegreen/bluegreen.yaml", []byte(data), getenv); err != nil {
					t.Errorf("%s: bluegreen.yaml: %v", file, err)
				}
			}
		}
	}
}

// TestRoleCoversSwitcherRules: the Role of deploy/kubernetes grants every
// verb SwitcherRules says each traffic mode needs.
func TestRoleCoversSwitcherRules(t *testing.T) {
	var role rbacv1.Role
	readManifest(t, "role.yaml", &role)
	granted := func(group, resource, verb string) bool {
		for _, r := range role.Rules {
			if slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb) {
				return true
			}
		}
		return false
	}
	for _, mode := range []Traffic{TrafficService, TrafficGateway, TrafficIngressNginx, TrafficRouter} {
		for _, r := range SwitcherRules(mode) {
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					for _, v := range r.Verbs {
						if !granted(g, res, v) {
							t.Errorf("traffic %s needs %s on %s in API group %q; role.yaml does not grant it", mode, v, res, g)
						}
					}
				}
			}
		}
	}
}

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
	if err := waitEndpoints(ctx, d); err != nil {
		return err
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

// waitEndpoints watches the slots' endpoints (traffic: router) until both
// slots have ready addresses.
func waitEndpoints(ctx context.Context, d *Driver) error {
	ctx, cancel := context.WithTimeout(ctx, rbacReadyTimeout)
	defer cancel()
	var mu sync.Mutex
	seen := map[slot.Slot][]string{}
	both := make(chan struct{})
	err := d.WatchEndpoints(ctx, func(s slot.Slot, addrs []string, _ bool) {
		mu.Lock()
		defer mu.Unlock()
		seen[s] = addrs
		if len(seen[slot.Blue]) > 0 && len(seen[slot.Green]) > 0 && both != nil {
			close(both)
			both = nil
		}
	})
	if err != nil {
		return fmt.Errorf("endpoints: %w", err)
	}
	mu.Lock()
	wait := both
	mu.Unlock()
	if wait == nil {
		return nil
	}
	select {
	case <-wait:
		return nil
	case <-ctx.Done():
		mu.Lock()
		defer mu.Unlock()
		return fmt.Errorf("endpoints: blue %v, green %v after %s", seen[slot.Blue], seen[slot.Green], rbacReadyTimeout)
	}
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
