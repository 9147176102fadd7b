package kubetest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func TestMain(m *testing.M) { Main(m) }

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
				if ctx.Err() == nil {
					last = "error: " + err.Error()
				}
				return false, nil // the next poll tries again
			}
			last = state
			return ok, nil
		})
	if err != nil {
		t.Fatalf("%s: %v; last seen: %s", what, err, last)
	}
}

// deployment is a Deployment of n pods bound to the fake node.
func deployment(name string, labels map[string]string, replicas int32, node string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					NodeName: node,
					Containers: []corev1.Container{{
						Name:  "web",
						Image: "example.invalid/web:" + labels["version"],
						Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
					}},
				},
			},
		},
	}
}

// readyDeployment waits until the Deployment's status reads n ready,
// updated and available replicas for its current generation.
func readyDeployment(t *testing.T, client kubernetes.Interface, ns, name string, n int32) *appsv1.Deployment {
	t.Helper()
	var d *appsv1.Deployment
	eventually(t, "deployment "+name+" ready", func(ctx context.Context) (bool, string, error) {
		var err error
		d, err = client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		s := d.Status
		state := fmt.Sprintf("generation %d observed %d, replicas %d updated %d ready %d available %d",
			d.Generation, s.ObservedGeneration, s.Replicas, s.UpdatedReplicas, s.ReadyReplicas, s.AvailableReplicas)
		return s.ObservedGeneration == d.Generation && s.ReadyReplicas == n && s.UpdatedReplicas == n && s.AvailableReplicas == n, state, nil
	})
	return d
}

// podIPs are the sorted IPs of the Running, Ready pods matching selector.
func podIPs(t *testing.T, client kubernetes.Interface, ns, selector string) []string {
	t.Helper()
	pods, err := client.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatalf("list pods %s: %v", selector, err)
	}
	var ips []string
	for _, p := range pods.Items {
		if p.Spec.NodeName != "" && p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" && podReady(&p) {
			ips = append(ips, p.Status.PodIP)
		}
	}
	slices.Sort(ips)
	return ips
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// sliceAddresses are the sorted ready addresses in the Service's EndpointSlices.
func sliceAddresses(ctx context.Context, client kubernetes.Interface, ns, service string) ([]string, error) {
	list, err := client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + service,
	})
	if err != nil {
		return nil, err
	}
	var addrs []string
	for _, s := range list.Items {
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready != nil && *ep.Conditions.Ready {
				addrs = append(addrs, ep.Addresses...)
			}
		}
	}
	slices.Sort(addrs)
	return addrs, nil
}

// followsTo waits until the Service's EndpointSlices hold exactly want.
func followsTo(t *testing.T, client kubernetes.Interface, ns, service string, want []string) {
	t.Helper()
	eventually(t, "EndpointSlice of "+service+" holds "+strings.Join(want, ","), func(ctx context.Context) (bool, string, error) {
		got, err := sliceAddresses(ctx, client, ns, service)
		if err != nil {
			return false, "", err
		}
		return slices.Equal(got, want), strings.Join(got, ","), nil
	})
}

func TestDeploymentPodsReadyAndEndpointSliceFollowsSelector(t *testing.T) {
	began := time.Now()
	env := Shared(t)
	ns := env.Namespace(t)
	client := env.Client()
	ctx := t.Context()

	blue := map[string]string{"app": "web", "version": "blue"}
	green := map[string]string{"app": "web", "version": "green"}
	for name, labels := range map[string]map[string]string{"web-blue": blue, "web-green": green} {
		if _, err := client.AppsV1().Deployments(ns).Create(ctx, deployment(name, labels, 2, env.NodeName()), metav1.CreateOptions{}); err != nil {
			t.Fatalf("create deployment %s: %v", name, err)
		}
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{
			Selector: blue,
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	if _, err := client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create service: %v", err)
	}

	d := readyDeployment(t, client, ns, "web-blue", 2)
	t.Logf("from Shared to deployment web-blue with 2 ready pods: %s", time.Since(began).Round(time.Millisecond))
	if *d.Spec.Replicas != 2 || d.Status.ReadyReplicas != 2 {
		t.Fatalf("web-blue read back: spec replicas %d, ready %d", *d.Spec.Replicas, d.Status.ReadyReplicas)
	}
	readyDeployment(t, client, ns, "web-green", 2)
	logMemory(t, env)

	blueIPs := podIPs(t, client, ns, "app=web,version=blue")
	greenIPs := podIPs(t, client, ns, "app=web,version=green")
	if len(blueIPs) != 2 || len(greenIPs) != 2 {
		t.Fatalf("ready pod IPs: blue %v, green %v; want 2 each", blueIPs, greenIPs)
	}
	if slices.ContainsFunc(blueIPs, func(ip string) bool { return slices.Contains(greenIPs, ip) }) {
		t.Fatalf("blue and green pods share an IP: %v %v", blueIPs, greenIPs)
	}
	pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatalf("list pods: %v", err)
	}
	for _, p := range pods.Items {
		if p.Spec.NodeName != env.NodeName() {
			t.Errorf("pod %s on node %q, want %q", p.Name, p.Spec.NodeName, env.NodeName())
		}
	}
	followsTo(t, client, ns, "web", blueIPs)

	switched := time.Now()
	patch := []byte(`{"spec":{"selector":{"version":"green"}}}`)
	got, err := client.CoreV1().Services(ns).Patch(ctx, "web", types.StrategicMergePatchType, patch, metav1.PatchOptions{FieldManager: "kubetest-test"})
	if err != nil {
		t.Fatalf("patch service selector: %v", err)
	}
	if got.Spec.Selector["version"] != "green" || got.Spec.Selector["app"] != "web" {
		t.Fatalf("service selector read back %v, want app=web version=green", got.Spec.Selector)
	}
	followsTo(t, client, ns, "web", greenIPs)
	t.Logf("EndpointSlice followed the selector patch in %s", time.Since(switched).Round(time.Millisecond))

	// The node stays Ready: kwok keeps its heartbeat.
	if err := nodeReady(ctx, client, env.NodeName()); err != nil {
		t.Errorf("after the test: %v", err)
	}
}

// logMemory logs the resident memory of each process of the control plane.
func logMemory(t *testing.T, env *Env) {
	t.Helper()
	var parts []string
	var total int
	for _, p := range env.procs {
		kb, err := rssKiB(p.cmd.Process.Pid)
		if err != nil {
			t.Logf("memory of %s: %v", p.name, err)
			continue
		}
		total += kb
		parts = append(parts, fmt.Sprintf("%s %d MiB", p.name, kb/1024))
	}
	t.Logf("resident memory: %s; total %d MiB", strings.Join(parts, ", "), total/1024)
}

// rssKiB is VmRSS from /proc/pid/status.
func rssKiB(pid int) (int, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	return 0, errors.New("no VmRSS")
}

func TestServiceAccountUnderRBAC(t *testing.T) {
	env := Shared(t)
	ns := env.Namespace(t)
	client := env.Client()
	ctx := t.Context()

	if _, err := client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "reader"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create service account: %v", err)
	}
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list"}}},
	}
	if _, err := client.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create role: %v", err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "reader-reads-pods"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pod-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "reader", Namespace: ns}},
	}
	if _, err := client.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create role binding: %v", err)
	}

	// Through a kubeconfig file, as a program the test runs would.
	path := env.WriteKubeconfig(t, env.ServiceAccountConfig(t, ns, "reader"))
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	sa, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	if _, err := sa.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("list pods, which the Role grants: %v", err)
	}
	_, err = sa.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("list deployments, which the Role does not grant: got %v, want Forbidden", err)
	}
	want := fmt.Sprintf(`User "system:serviceaccount:%s:reader" cannot list resource "deployments"`, ns)
	if !strings.Contains(err.Error(), want) {
		t.Errorf("forbidden error %q does not say %q", err, want)
	}
	if _, err := sa.CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("list pods in another namespace: got %v, want Forbidden", err)
	}
}

func TestAlwaysAllowAndVersion(t *testing.T) {
	env := Start(t, Options{Authorization: AlwaysAllow})
	ctx := t.Context()

	// The admin kubeconfig file works.
	cfg, err := clientcmd.BuildConfigFromFlags("", env.Kubeconfig())
	if err != nil {
		t.Fatalf("load %s: %v", env.Kubeconfig(), err)
	}
	admin, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	v, err := admin.Discovery().ServerVersion()
	if err != nil {
		t.Fatalf("server version: %v", err)
	}
	if v.GitVersion != Version {
		t.Errorf("server version %s, want %s", v.GitVersion, Version)
	}

	ns := env.Namespace(t)
	if _, err := admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "nobody"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create service account: %v", err)
	}
	sa, err := kubernetes.NewForConfig(env.ServiceAccountConfig(t, ns, "nobody"))
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	// No Role binds it, and AlwaysAllow lets it through.
	if _, err := sa.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("list deployments under AlwaysAllow: %v", err)
	}
}

func TestGatewayAPICRDsInstall(t *testing.T) {
	if _, err := GatewayAPICRDs(); err != nil {
		unavailable(t, err)
	}
	env := Shared(t)
	env.InstallGatewayAPI(t)
	env.InstallGatewayAPI(t) // applying again is harmless
	ns := env.Namespace(t)

	dyn, err := dynamic.NewForConfig(env.Config())
	if err != nil {
		t.Fatalf("dynamic client: %v", err)
	}
	routes := dyn.Resource(schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}).Namespace(ns)
	route := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1",
		"kind":       "HTTPRoute",
		"metadata":   map[string]any{"name": "web"},
		"spec": map[string]any{
			"parentRefs": []any{map[string]any{"name": "gw"}},
			"rules": []any{map[string]any{
				"backendRefs": []any{
					map[string]any{"name": "web-blue", "port": int64(80), "weight": int64(75)},
					map[string]any{"name": "web-green", "port": int64(80), "weight": int64(25)},
				},
			}},
		},
	}}
	if _, err := routes.Create(t.Context(), route, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create HTTPRoute: %v", err)
	}
	got, err := routes.Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get HTTPRoute: %v", err)
	}
	rules, _, _ := unstructured.NestedSlice(got.Object, "spec", "rules")
	if len(rules) != 1 {
		t.Fatalf("HTTPRoute rules read back: %v", rules)
	}
	refs, _, _ := unstructured.NestedSlice(rules[0].(map[string]any), "backendRefs")
	var weights []string
	for _, r := range refs {
		m := r.(map[string]any)
		weights = append(weights, fmt.Sprintf("%v=%v", m["name"], m["weight"]))
	}
	if want := []string{"web-blue=75", "web-green=25"}; !slices.Equal(weights, want) {
		t.Errorf("HTTPRoute weights read back %v, want %v", weights, want)
	}
}

func TestNamespacePrefix(t *testing.T) {
	for name, want := range map[string]string{
		"TestX":                  "x-",
		"TestSuite/Some_Case#01": "suite-some-case-01-",
		"Test":                   "kubetest-",
		"TestAVeryLongNameThatGoesOnAndOn/AndHasSubtests/AndMore": "averylongnamethatgoesonandon-andhassubte-",
	} {
		if got := namespacePrefix(name); got != want {
			t.Errorf("namespacePrefix(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestUnavailableGivesTheReason(t *testing.T) {
	msg := unavailableMsg(errors.New("no kube-apiserver here"))
	for _, want := range []string{"no kube-apiserver here", "scripts/kube-testenv.sh", EnvCache} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not say %q", msg, want)
		}
	}
}

func TestMissingBinariesNamed(t *testing.T) {
	t.Setenv(EnvCache, t.TempDir())
	_, err := findBinaries()
	if err == nil {
		t.Fatal("found binaries in an empty cache")
	}
	for _, name := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kwok"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}

// crashChildEnv marks the child process of TestProcessesKilledWhenBinaryDies.
const crashChildEnv = "KUBETEST_CRASH_CHILD"

// TestCrashChild is the child: it starts a control plane and is killed
// without any cleanup.
func TestCrashChild(t *testing.T) {
	if os.Getenv(crashChildEnv) != "1" {
		t.Skip("only runs as the child of TestProcessesKilledWhenBinaryDies")
	}
	env := Start(t, Options{})
	for _, p := range env.procs {
		fmt.Printf("PID=%d\n", p.cmd.Process.Pid)
	}
	fmt.Printf("DIR=%s\n", env.Dir())
	fmt.Println("STARTED")
	if err := syscall.Kill(os.Getpid(), syscall.SIGKILL); err != nil {
		t.Fatalf("kill myself: %v", err)
	}
	select {} // SIGKILL arrives
}

func TestProcessesKilledWhenBinaryDies(t *testing.T) {
	if os.Getenv(crashChildEnv) == "1" {
		t.Skip("this is the child")
	}
	if _, err := findBinaries(); err != nil {
		unavailable(t, err)
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestCrashChild$", "-test.v")
	cmd.Env = append(os.Environ(), crashChildEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("pipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	var pids []int
	var dir string
	started := false
	var transcript strings.Builder
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		transcript.WriteString(line + "\n")
		if v, ok := strings.CutPrefix(line, "PID="); ok {
			pid, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("child said %q", line)
			}
			pids = append(pids, pid)
		}
		if v, ok := strings.CutPrefix(line, "DIR="); ok {
			dir = v
		}
		started = started || line == "STARTED"
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL: %v\n%s", err, transcript.String())
	}
	if !started || len(pids) != 4 || dir == "" {
		t.Fatalf("child did not report its 4 processes:\n%s", transcript.String())
	}
	eventually(t, "the watchdog kills the child's control plane", func(context.Context) (bool, string, error) {
		var alive []string
		for _, pid := range pids {
			// The processes were the child's; now orphans, reaped by init.
			if err := syscall.Kill(pid, 0); err == nil && !zombie(pid) {
				alive = append(alive, strconv.Itoa(pid))
			}
		}
		_, statErr := os.Stat(dir)
		gone := errors.Is(statErr, os.ErrNotExist)
		return len(alive) == 0 && gone, fmt.Sprintf("alive: [%s], %s removed: %t", strings.Join(alive, " "), dir, gone), nil
	})
	// The child's t.TempDir parent is left empty; remove it (only if empty).
	if err := os.Remove(filepath.Dir(dir)); err != nil {
		t.Logf("remove the child's empty test directory: %v", err)
	}
}

// zombie reports whether pid has exited but is not reaped yet.
func zombie(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // gone
	}
	// pid (comm) state …; comm may hold spaces, so look after the last ')'.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && len(s) > i+2 && s[i+2] == 'Z'
}
