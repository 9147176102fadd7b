package kubernetes

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bluegreen-dev/bluegreen/internal/kubetest"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// runtimeRules are the permissions the driver's runtime (Start, Stop,
// Running, Ready, Stuck) uses, and no more: server-side apply is a patch
// that creates the object the first time.
var runtimeRules = []rbacv1.PolicyRule{
	{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "create", "patch"}},
	{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"create", "patch"}},
	{APIGroups: []string{"apps"}, Resources: []string{"replicasets"}, Verbs: []string{"list"}},
	{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list"}},
}

// saDriver is a driver running as a ServiceAccount bound to rules only.
func saDriver(t *testing.T, env *kubetest.Env, ns string, rules []rbacv1.PolicyRule, base *Driver) *Driver {
	t.Helper()
	ctx := t.Context()
	client := env.Client()
	name := fmt.Sprintf("runtime-%d", len(rules))
	if _, err := client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create service account: %v", err)
	}
	if _, err := client.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create role: %v", err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ns}},
	}
	if _, err := client.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create role binding: %v", err)
	}
	d, err := New(env.ServiceAccountConfig(t, ns, name), base.opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return d
}

// TestRuntimeUnderItsRole: the runtime's whole cycle works under a Role of
// runtimeRules alone (RBAC authorization), and without the pods rule Stuck
// fails naming the verb and resource.
func TestRuntimeUnderItsRole(t *testing.T) {
	admin, env, ns := newDriver(t, 1)
	d := saDriver(t, env, ns, runtimeRules, admin)
	ctx := t.Context()

	if _, err := d.Start(ctx, slot.Blue, "v1"); err != nil {
		t.Fatalf("Start under the role: %v", err)
	}
	eventually(t, "shop-blue ready", func(ctx context.Context) (bool, string, error) {
		r, n, err := d.Ready(ctx, slot.Blue)
		return r == 1 && n == 1, fmt.Sprintf("%d/%d", r, n), err
	})
	if _, err := d.Start(ctx, slot.Blue, "v1"); err != nil {
		t.Fatalf("Start again under the role: %v", err)
	}
	if why, err := d.Stuck(ctx, slot.Blue); why != "" || err != nil {
		t.Errorf("Stuck under the role = %q, %v", why, err)
	}
	if got := d.Running(slot.Blue); len(got) != 1 {
		t.Errorf("Running under the role = %v, want 1 address", got)
	}
	if err := d.Stop(ctx, slot.Blue); err != nil {
		t.Fatalf("Stop under the role: %v", err)
	}

	without := saDriver(t, env, ns, runtimeRules[:3], admin)
	if _, err := d.Start(ctx, slot.Blue, "v2"); err != nil {
		t.Fatalf("Start v2: %v", err)
	}
	eventually(t, "Stuck without list pods is forbidden", func(ctx context.Context) (bool, string, error) {
		_, err := without.Stuck(ctx, slot.Blue)
		if err == nil {
			return false, "no error (no ReplicaSet yet?)", nil
		}
		return apierrors.IsForbidden(err), err.Error(), nil
	})
	_, err := without.Stuck(ctx, slot.Blue)
	if !strings.Contains(err.Error(), `cannot list resource "pods"`) {
		t.Errorf("Stuck without the pods rule: %v, want it to name list pods", err)
	}
}
