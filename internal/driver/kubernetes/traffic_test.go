package kubernetes

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/bluegreen-dev/bluegreen/internal/kubetest"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// The package's one TestMain: the tests share one control plane.
func TestMain(m *testing.M) { kubetest.Main(m) }

// writeCounter counts the requests that are not reads (GET) through a
// rest.Config's transport: the API writes.
type writeCounter struct {
	mu     sync.Mutex
	writes []string // "PATCH /api/v1/namespaces/…/services/shop"
}

func (c *writeCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if req.Method != http.MethodGet {
			c.mu.Lock()
			c.writes = append(c.writes, req.Method+" "+req.URL.Path)
			c.mu.Unlock()
		}
		return rt.RoundTrip(req)
	})
}

// take returns the writes counted since the last take.
func (c *writeCounter) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.writes
	c.writes = nil
	return w
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// counted is cfg with its writes counted.
func counted(cfg *rest.Config) (*rest.Config, *writeCounter) {
	c := &writeCounter{}
	cfg = rest.CopyConfig(cfg)
	cfg.WrapTransport = c.wrap
	return cfg, c
}

func testOptions(ns string, mode Traffic) Options {
	return Options{
		App: "shop", Namespace: ns, Traffic: mode, Port: 8080, Replicas: 3,
		PreviewHeader: "X-Canary-Version", PreviewSecret: "s3cret",
	}
}

func noReady(context.Context, slot.Slot) (int, int, error) { return 0, 0, errors.New("not wired") }

// step is one SetRoute of a test sequence and the API writes it makes.
type step struct {
	live   slot.Slot
	blue   int // percent; green gets the rest
	writes []string
}

// paths of the objects, for the expected writes.
func servicePath(ns, name string) string {
	return "PATCH /api/v1/namespaces/" + ns + "/services/" + name
}

func ingressPath(ns, name string) string {
	return "PATCH /apis/networking.k8s.io/v1/namespaces/" + ns + "/ingresses/" + name
}

func routePath(ns, name string) string {
	return "PATCH /apis/gateway.networking.k8s.io/v1/namespaces/" + ns + "/httproutes/" + name
}

// run applies each step, checks its writes exactly (method, object and
// order), then check(live, blue%) against the objects read through the API,
// and Route of the Switcher and of a fresh one (which reads the API).
func run(t *testing.T, cfg *rest.Config, opts Options, steps []step, check func(t *testing.T, live slot.Slot, blue int)) {
	t.Helper()
	ccfg, writes := counted(cfg)
	sw, err := NewSwitcher(ccfg, opts, noReady)
	if err != nil {
		t.Fatal(err)
	}
	if live, w := sw.Route(); live != "" || w != nil {
		t.Errorf("route before any write: %s %v, want none", live, w)
	}
	for _, st := range steps {
		want := map[slot.Slot]int{slot.Blue: st.blue, slot.Green: 100 - st.blue}
		name := fmt.Sprintf("%s live, %d/%d", st.live, st.blue, 100-st.blue)
		writes.take()
		if err := sw.SetRoute(st.live, want); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := writes.take(); strings.Join(got, "\n") != strings.Join(st.writes, "\n") {
			t.Errorf("%s: %d writes\n%s\nwant %d\n%s", name, len(got), strings.Join(got, "\n"), len(st.writes), strings.Join(st.writes, "\n"))
		}
		check(t, st.live, st.blue)
		if live, w := sw.Route(); live != st.live || w[slot.Blue] != st.blue || w[slot.Green] != 100-st.blue {
			t.Errorf("%s: Route() = %s %v", name, live, w)
		}
		fresh, err := NewSwitcher(cfg, opts, noReady)
		if err != nil {
			t.Fatal(err)
		}
		if live, w := fresh.Route(); live != st.live || w[slot.Blue] != st.blue || w[slot.Green] != 100-st.blue {
			t.Errorf("%s: Route() read from the API = %s %v", name, live, w)
		}
	}
}

func TestServiceModeSwitchesSelectors(t *testing.T) {
	env := kubetest.Shared(t)
	ns := env.Namespace(t)
	opts := testOptions(ns, TrafficService)
	both := []string{servicePath(ns, "shop"), servicePath(ns, "shop-preview")}
	check := func(t *testing.T, live slot.Slot, blue int) {
		t.Helper()
		serving := slot.Green // the slot with all production traffic
		if blue == 100 {
			serving = slot.Blue
		}
		for name, want := range map[string]slot.Slot{"shop": serving, "shop-preview": serving.Other()} {
			svc, err := env.Client().CoreV1().Services(ns).Get(t.Context(), name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if sel := svc.Spec.Selector; len(sel) != 2 || sel["app"] != "shop" || sel["version"] != string(want) {
				t.Errorf("service %s selector %v, want app=shop version=%s", name, sel, want)
			}
			if p := svc.Spec.Ports; len(p) != 1 || p[0].Port != 8080 || p[0].TargetPort.IntVal != 8080 {
				t.Errorf("service %s ports %v", name, p)
			}
		}
	}
	run(t, env.Config(), opts, []step{
		{live: slot.Blue, blue: 100, writes: both},
		{live: slot.Blue, blue: 0, writes: both}, // baking: green has 100% while blue is still live
		{live: slot.Green, blue: 0, writes: both},
		{live: slot.Blue, blue: 100, writes: both}, // rollback
	}, check)

	ccfg, writes := counted(env.Config())
	sw, err := NewSwitcher(ccfg, opts, noReady)
	if err != nil {
		t.Fatal(err)
	}
	err = sw.SetRoute(slot.Blue, map[slot.Slot]int{slot.Blue: 75, slot.Green: 25})
	if !errors.Is(err, ErrSplitInServiceMode) {
		t.Errorf("a split in service mode: %v, want %v", err, ErrSplitInServiceMode)
	}
	if got := writes.take(); len(got) != 0 {
		t.Errorf("a refused split wrote %v", got)
	}
	check(t, slot.Blue, 100)
}

func TestGatewayModeWeightsHTTPRoute(t *testing.T) {
	env := kubetest.Shared(t)
	env.InstallGatewayAPI(t)
	ns := env.Namespace(t)
	opts := testOptions(ns, TrafficGateway)
	opts.Gateway = "infra/public"
	dyn, err := dynamic.NewForConfig(env.Config())
	if err != nil {
		t.Fatal(err)
	}
	one := []string{routePath(ns, "shop")}
	check := func(t *testing.T, live slot.Slot, blue int) {
		t.Helper()
		obj, err := dyn.Resource(httpRoutes).Namespace(ns).Get(t.Context(), "shop", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rules, _, _ := unstructured.NestedSlice(obj.Object, "spec", "rules")
		if len(rules) != 2 {
			t.Fatalf("httproute rules: %v", rules)
		}
		if got, want := backendRefs(rules[0]), fmt.Sprintf("shop-blue:8080=%d shop-green:8080=%d", blue, 100-blue); got != want {
			t.Errorf("httproute backendRefs %s, want %s", got, want)
		}
		if got, want := backendRefs(rules[1]), "shop-"+string(live.Other())+":8080=1"; got != want { // the CRD defaults the weight to 1
			t.Errorf("httproute preview backendRefs %s, want %s", got, want)
		}
		headers, _, _ := unstructured.NestedSlice(rules[1].(map[string]any)["matches"].([]any)[0].(map[string]any), "headers")
		if h := fmt.Sprint(headers); h != "[map[name:X-Canary-Version type:Exact value:s3cret]]" {
			t.Errorf("httproute preview headers %s", h)
		}
		if got, want := parentRefs(obj), "infra/public"; got != want {
			t.Errorf("httproute parentRefs %s, want %s", got, want)
		}
	}
	run(t, env.Config(), opts, []step{
		{live: slot.Blue, blue: 100, writes: one},
		{live: slot.Blue, blue: 75, writes: one},
		{live: slot.Blue, blue: 50, writes: one},
		{live: slot.Blue, blue: 25, writes: one},
		{live: slot.Green, blue: 0, writes: one},
		{live: slot.Blue, blue: 100, writes: one}, // rollback
	}, check)
}

// parentRefs is "namespace/name …" of an HTTPRoute's parentRefs ("name"
// without a namespace), each a Gateway of the Gateway API group.
func parentRefs(route *unstructured.Unstructured) string {
	refs, _, _ := unstructured.NestedSlice(route.Object, "spec", "parentRefs")
	var parts []string
	for _, r := range refs {
		m := r.(map[string]any)
		p := fmt.Sprint(m["name"])
		if ns, ok := m["namespace"]; ok {
			p = fmt.Sprint(ns) + "/" + p
		}
		if m["group"] != "gateway.networking.k8s.io" || m["kind"] != "Gateway" { // the CRD's defaults
			p += fmt.Sprintf("(%v %v)", m["group"], m["kind"])
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, " ")
}

// TestGatewayParentRefFollowsOptions: Options.Gateway "name" is a parentRef
// without a namespace (the route's own), "namespace/name" one with it; a
// Switcher with another Gateway moves the route to it in its one write.
func TestGatewayParentRefFollowsOptions(t *testing.T) {
	env := kubetest.Shared(t)
	env.InstallGatewayAPI(t)
	ns := env.Namespace(t)
	dyn, err := dynamic.NewForConfig(env.Config())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ gateway, want string }{
		{"public", "public"},
		{"infra/public", "infra/public"},
		{"edge", "edge"},
	} {
		opts := testOptions(ns, TrafficGateway)
		opts.Gateway = tc.gateway
		ccfg, writes := counted(env.Config())
		sw, err := NewSwitcher(ccfg, opts, noReady)
		if err != nil {
			t.Fatal(err)
		}
		if err := sw.SetRoute(slot.Blue, map[slot.Slot]int{slot.Blue: 100}); err != nil {
			t.Fatalf("gateway %s: %v", tc.gateway, err)
		}
		if got, want := writes.take(), []string{routePath(ns, "shop")}; !slices.Equal(got, want) {
			t.Errorf("gateway %s: writes %v, want %v", tc.gateway, got, want)
		}
		obj, err := dyn.Resource(httpRoutes).Namespace(ns).Get(t.Context(), "shop", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := parentRefs(obj); got != tc.want {
			t.Errorf("gateway %s: httproute parentRefs %s, want %s", tc.gateway, got, tc.want)
		}
	}
}

// TestIngressClassFollowsOptions: Options.IngressClass is the
// ingressClassName of both Ingresses read back; a Switcher with another
// class rewrites the main Ingress too, and "" takes the class off both.
func TestIngressClassFollowsOptions(t *testing.T) {
	env := kubetest.Shared(t)
	ns := env.Namespace(t)
	ingresses := env.Client().NetworkingV1().Ingresses(ns)
	both := []string{ingressPath(ns, "shop"), ingressPath(ns, "shop-canary")}
	for _, class := range []string{"nginx", "internal", ""} {
		opts := testOptions(ns, TrafficIngressNginx)
		opts.IngressClass = class
		ccfg, writes := counted(env.Config())
		sw, err := NewSwitcher(ccfg, opts, noReady)
		if err != nil {
			t.Fatal(err)
		}
		if err := sw.SetRoute(slot.Blue, map[slot.Slot]int{slot.Blue: 90, slot.Green: 10}); err != nil {
			t.Fatalf("class %q: %v", class, err)
		}
		if got := writes.take(); !slices.Equal(got, both) {
			t.Errorf("class %q: writes %v, want %v (a new class rewrites the main Ingress)", class, got, both)
		}
		for _, name := range []string{"shop", "shop-canary"} {
			ing, err := ingresses.Get(t.Context(), name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got := "<none>"
			if ing.Spec.IngressClassName != nil {
				got = *ing.Spec.IngressClassName
			}
			if want := cmp.Or(class, "<none>"); got != want {
				t.Errorf("ingress %s: ingressClassName %s, want %s", name, got, want)
			}
		}
	}
}

// backendRefs is "name:port=weight …" of an HTTPRoute rule ("-" for no
// weight).
func backendRefs(rule any) string {
	refs, _, _ := unstructured.NestedSlice(rule.(map[string]any), "backendRefs")
	var parts []string
	for _, r := range refs {
		m := r.(map[string]any)
		w := "-"
		if v, ok := m["weight"]; ok {
			w = fmt.Sprint(v)
		}
		parts = append(parts, fmt.Sprintf("%v:%v=%s", m["name"], m["port"], w))
	}
	return strings.Join(parts, " ")
}

func TestIngressNginxModeMovesCanaryWeight(t *testing.T) {
	env := kubetest.Shared(t)
	ns := env.Namespace(t)
	opts := testOptions(ns, TrafficIngressNginx)
	opts.IngressClass = "nginx"
	canary := []string{ingressPath(ns, "shop-canary")}
	switched := []string{ingressPath(ns, "shop"), ingressPath(ns, "shop-canary")}
	check := func(t *testing.T, live slot.Slot, blue int) {
		t.Helper()
		ingresses := env.Client().NetworkingV1().Ingresses(ns)
		main, err := ingresses.Get(t.Context(), "shop", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		c, err := ingresses.Get(t.Context(), "shop-canary", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, ing := range [...]struct {
			name, service string
			got           string
			class         *string
		}{
			{"shop", "shop-" + string(live), main.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name, main.Spec.IngressClassName},
			{"shop-canary", "shop-" + string(live.Other()), c.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name, c.Spec.IngressClassName},
		} {
			if ing.got != ing.service {
				t.Errorf("ingress %s reaches %s, want %s", ing.name, ing.got, ing.service)
			}
			if ing.class == nil || *ing.class != "nginx" {
				t.Errorf("ingress %s class %v", ing.name, ing.class)
			}
		}
		if _, ok := main.Annotations[nginxCanary]; ok {
			t.Errorf("main ingress has %s", nginxCanary)
		}
		weight := 100 - blue // the canary reaches the slot that is not live
		if live == slot.Green {
			weight = blue
		}
		want := map[string]string{
			nginxCanary:            "true",
			nginxCanaryWeight:      fmt.Sprint(weight),
			nginxCanaryHeader:      "X-Canary-Version",
			nginxCanaryHeaderValue: "s3cret",
		}
		for k, v := range want {
			if c.Annotations[k] != v {
				t.Errorf("canary ingress %s=%q, want %q", k, c.Annotations[k], v)
			}
		}
	}
	run(t, env.Config(), opts, []step{
		{live: slot.Blue, blue: 100, writes: switched}, // creates both
		{live: slot.Blue, blue: 75, writes: canary},
		{live: slot.Blue, blue: 50, writes: canary},
		{live: slot.Blue, blue: 25, writes: canary},
		{live: slot.Blue, blue: 0, writes: canary}, // the canary at 100%
		{live: slot.Green, blue: 0, writes: switched},
		{live: slot.Blue, blue: 100, writes: switched}, // rollback
		{live: slot.Blue, blue: 100, writes: canary},   // again: the main Ingress is left alone
	}, check)

	// A Switcher that has not read the objects yet reads the main Ingress
	// before a weighted step, and writes only the canary.
	ccfg, writes := counted(env.Config())
	sw, err := NewSwitcher(ccfg, opts, noReady)
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.SetRoute(slot.Blue, map[slot.Slot]int{slot.Blue: 90, slot.Green: 10}); err != nil {
		t.Fatal(err)
	}
	if got := writes.take(); strings.Join(got, ",") != strings.Join(canary, ",") {
		t.Errorf("a weighted step from a fresh switcher wrote %v, want %v", got, canary)
	}
	check(t, slot.Blue, 90)
}

func TestNewSwitcherRefuses(t *testing.T) {
	cfg := &rest.Config{Host: "https://127.0.0.1:1"}
	for name, tc := range map[string]struct {
		mutate func(*Options)
		ready  ReadyFunc
		want   string
	}{
		"router mode":  {func(o *Options) { o.Traffic = TrafficRouter }, noReady, `mode "router" uses bluegreen's own router`},
		"unknown mode": {func(o *Options) { o.Traffic = "nginx" }, noReady, `unknown mode "nginx"`},
		"no app":       {func(o *Options) { o.App = "" }, noReady, "no app name"},
		"bad port":     {func(o *Options) { o.Port = -1 }, noReady, "port -1"},
		"no ready":     {func(*Options) {}, nil, "no readiness function"},
	} {
		t.Run(name, func(t *testing.T) {
			opts := testOptions("ns", TrafficService)
			tc.mutate(&opts)
			_, err := NewSwitcher(cfg, opts, tc.ready)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewSwitcher: %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

func TestSwitcherAsksReadyAndNeverWaits(t *testing.T) {
	cfg := &rest.Config{Host: "https://127.0.0.1:1"}
	ready := func(_ context.Context, s slot.Slot) (int, int, error) {
		if s == slot.Green {
			return 0, 0, errors.New("cannot tell")
		}
		return 2, 3, nil
	}
	sw, err := NewSwitcher(cfg, testOptions("ns", TrafficGateway), ready)
	if err != nil {
		t.Fatal(err)
	}
	if h, n := sw.SlotReady(slot.Blue); h != 2 || n != 3 {
		t.Errorf("SlotReady(blue) = %d/%d, want 2/3", h, n)
	}
	if h, n := sw.SlotReady(slot.Green); h != 0 || n != 3 {
		t.Errorf("SlotReady(green) when it cannot tell = %d/%d, want 0 of the 3 replicas", h, n)
	}
	if ok, wait := sw.Drained(slot.Blue, metav1.Now().Time); !ok || wait != 0 {
		t.Errorf("Drained = %t %s, want true at once", ok, wait)
	}
	sw.SetBackends(slot.Blue, []string{"10.0.0.1:8080"}, true) // nothing to do
	sw.EndSlot(slot.Blue)
}

func TestSetRouteRefusesBadWeights(t *testing.T) {
	sw, err := NewSwitcher(&rest.Config{Host: "https://127.0.0.1:1"}, testOptions("ns", TrafficGateway), noReady)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []map[slot.Slot]int{
		{slot.Blue: 60, slot.Green: 60},
		{slot.Blue: -10, slot.Green: 110},
		{"red": 100},
	} {
		if err := sw.SetRoute(slot.Blue, w); err == nil {
			t.Errorf("SetRoute(blue, %v) took it", w)
		}
	}
	if err := sw.SetRoute("red", nil); err == nil {
		t.Error("SetRoute(red) took it")
	}
}

// TestSwitcherUnderRBAC runs each mode as a ServiceAccount whose Role is
// SwitcherRules(mode), and with each verb taken out of it in turn: the
// Role is enough, and each verb is needed, failing with an error that names
// the verb and the resource.
func TestSwitcherUnderRBAC(t *testing.T) {
	env := kubetest.Shared(t)
	env.InstallGatewayAPI(t)
	for _, mode := range []Traffic{TrafficService, TrafficGateway, TrafficIngressNginx} {
		t.Run(string(mode), func(t *testing.T) {
			rules := SwitcherRules(mode)
			// Switches both ways, then reads the route back in a fresh one.
			drive := func(cfg *rest.Config, ns string) error {
				sw, err := NewSwitcher(cfg, testOptions(ns, mode), noReady)
				if err != nil {
					return err
				}
				if err := sw.SetRoute(slot.Blue, map[slot.Slot]int{slot.Blue: 100}); err != nil {
					return err
				}
				if err := sw.SetRoute(slot.Green, map[slot.Slot]int{slot.Green: 100}); err != nil {
					return err
				}
				fresh, err := NewSwitcher(cfg, testOptions(ns, mode), noReady)
				if err != nil {
					return err
				}
				if live, _ := fresh.Route(); live != slot.Green {
					return fmt.Errorf("route read back: live %q, want green", live)
				}
				return nil
			}
			ns := env.Namespace(t)
			if err := drive(serviceAccount(t, env, ns, rules), ns); err != nil {
				t.Fatalf("with the Role of SwitcherRules(%s): %v", mode, err)
			}
			for i, rule := range rules {
				for _, verb := range rule.Verbs {
					less := slices.Clone(rules)
					less[i].Verbs = slices.DeleteFunc(slices.Clone(rule.Verbs), func(v string) bool { return v == verb })
					ns := env.Namespace(t)
					err := drive(serviceAccount(t, env, ns, less), ns)
					want := fmt.Sprintf("cannot %s resource %q", verb, rule.Resources[0])
					if verb == "get" {
						// Route swallows the error; the read back names it.
						want = fmt.Sprintf("cannot get resource %q", rule.Resources[0])
					}
					if err == nil || !strings.Contains(err.Error(), want) {
						t.Errorf("without %s on %s: %v, want an error saying %s", verb, rule.Resources[0], err, want)
					}
				}
			}
		})
	}
}

// serviceAccount is the config of a new ServiceAccount in ns bound to a
// Role of rules.
func serviceAccount(t *testing.T, env *kubetest.Env, ns string, rules []rbacv1.PolicyRule) *rest.Config {
	t.Helper()
	ctx := t.Context()
	client := env.Client()
	if _, err := client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "bluegreen"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "bluegreen-traffic"}, Rules: rules}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "bluegreen-traffic"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "bluegreen-traffic"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "bluegreen", Namespace: ns}},
	}
	if _, err := client.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return env.ServiceAccountConfig(t, ns, "bluegreen")
}

// TestIngressNginxResumesBetweenItsTwoWrites leaves the objects as a crash
// between a switch's two writes would (the main Ingress on the new live
// slot, the canary still on it too): a new Switcher sees no consistent
// route, and the controller's SetRoute finishes with the one write left.
func TestIngressNginxResumesBetweenItsTwoWrites(t *testing.T) {
	env := kubetest.Shared(t)
	ns := env.Namespace(t)
	opts := testOptions(ns, TrafficIngressNginx)
	before, err := NewSwitcher(env.Config(), opts, noReady)
	if err != nil {
		t.Fatal(err)
	}
	if err := before.SetRoute(slot.Blue, map[slot.Slot]int{slot.Blue: 0, slot.Green: 100}); err != nil {
		t.Fatal(err)
	}
	// The first write of the switch to green, done by hand.
	main := before.slotService(slot.Green)
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:"green"}},"spec":{"rules":[{"http":{"paths":[{"path":"/","pathType":"Prefix","backend":{"service":{"name":%q,"port":{"number":8080}}}}]}}]}}`, LiveAnnotation, main)
	if _, err := env.Client().NetworkingV1().Ingresses(ns).Patch(t.Context(), "shop", "application/merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}

	ccfg, writes := counted(env.Config())
	after, err := NewSwitcher(ccfg, opts, noReady)
	if err != nil {
		t.Fatal(err)
	}
	if live, w := after.Route(); live != "" || w != nil {
		t.Errorf("route between the two writes: %s %v, want none (inconsistent)", live, w)
	}
	if err := after.SetRoute(slot.Green, map[slot.Slot]int{slot.Green: 100}); err != nil {
		t.Fatal(err)
	}
	if got, want := writes.take(), []string{ingressPath(ns, "shop-canary")}; !slices.Equal(got, want) {
		t.Errorf("finishing the switch wrote %v, want %v", got, want)
	}
	if live, w := after.Route(); live != slot.Green || w[slot.Green] != 100 || w[slot.Blue] != 0 {
		t.Errorf("route after: %s %v", live, w)
	}
}
