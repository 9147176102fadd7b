package kubee2e

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/bluegreen-dev/bluegreen/internal/kubetest"
)

// roleFile is the least-privilege Role shipped for serve in a cluster.
const roleFile = "../../deploy/kubernetes/role.yaml"

// serveIdentity gives serve the identity deploy/kubernetes gives it: the
// ServiceAccount bluegreen, bound to the Role of role.yaml, in namespace
// ns; it returns that ServiceAccount's client configuration once the API
// server authorizes it. Every test runs serve so, under RBAC: a verb the
// Role lacks fails the test with the API server's error in serve's log.
func serveIdentity(t *testing.T, env *kubetest.Env, ns string) *rest.Config {
	t.Helper()
	data, err := os.ReadFile(roleFile)
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.Role
	if err := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096).Decode(&role); err != nil {
		t.Fatalf("decode %s: %v", roleFile, err)
	}
	role.Namespace = ns
	ctx := t.Context()
	c := env.Client()
	if _, err := c.RbacV1().Roles(ns).Create(ctx, &role, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create role: %v", err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "bluegreen", Namespace: ns}}
	if _, err := c.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create service account: %v", err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "bluegreen", Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa.Name, Namespace: ns}},
	}
	if _, err := c.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create role binding: %v", err)
	}
	cfg := env.ServiceAccountConfig(t, ns, sa.Name)
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The authorizer learns of the binding from its informer: wait until a
	// get is answered "not found" instead of "forbidden".
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := client.AppsV1().Deployments(ns).Get(ctx, "no-such-deployment", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Fatalf("the Role of %s is not in force for ServiceAccount %s/%s: %v", roleFile, ns, sa.Name, err)
	}
	return cfg
}
