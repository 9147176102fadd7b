package kubernetes

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"

	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/kubetest"
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
