package kubee2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/bluegreen-dev/bluegreen/internal/api"
	"github.com/bluegreen-dev/bluegreen/internal/capture"
	"github.com/bluegreen-dev/bluegreen/internal/e2ebin"
	"github.com/bluegreen-dev/bluegreen/internal/kubetest"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// appName is the app of every test; each test has a namespace of its own.
const appName = "shop"

// kubeOptions are the parts of the config a test chooses.
type kubeOptions struct {
	traffic        string // service, gateway, ingress-nginx, router
	strategy       string
	bake           string
	scaleDownDelay string
	replicas       int
	gateway        string // driver.kubernetes.gateway (traffic gateway)
}

// kubeApp is one bluegreen setup in a temp dir against a namespace of the
// shared control plane: config from `bluegreen init`, a serve process that
// talks to the API server as the ServiceAccount of deploy/kubernetes under
// its Role, and the counter its API calls pass through.
type kubeApp struct {
	t       *testing.T
	env     *kubetest.Env
	client  kubernetes.Interface // the test's own (admin), not counted
	ns      string
	dir     string
	cfg     string
	prod    string // production listener, host:port
	admin   string
	token   string
	counter *apiCounter

	serve     *exec.Cmd
	serveDone chan error
	logs      *capture.Buffer
}

func newKubeApp(t *testing.T, o kubeOptions) *kubeApp {
	t.Helper()
	env := kubetest.Shared(t)
	if o.replicas == 0 {
		o.replicas = 2
	}
	a := &kubeApp{t: t, env: env, client: env.Client(), ns: env.Namespace(t), dir: t.TempDir(), logs: &capture.Buffer{}}
	a.cfg = filepath.Join(a.dir, "bluegreen.yaml")
	a.counter = newAPICounter(t, serveIdentity(t, env, a.ns))

	// `bluegreen init` writes the config and the secrets; the test then
	// replaces the config's settings with its own, keeping the secrets'
	// paths that init chose.
	init := exec.Command(bluegreenBin, "init", "--app", appName)
	init.Dir = a.dir
	if out, err := init.CombinedOutput(); err != nil {
		t.Fatalf("bluegreen init: %v\n%s", err, out)
	}
	token, err := os.ReadFile(filepath.Join(a.dir, ".bluegreen/admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	a.token = strings.TrimSpace(string(token))

	ports := freePorts(t, 3)
	a.prod = fmt.Sprintf("127.0.0.1:%d", ports[0])
	a.admin = fmt.Sprintf("127.0.0.1:%d", ports[2])
	yaml := fmt.Sprintf(`app: %s
listen: 127.0.0.1:%d
preview_listen: 127.0.0.1:%d
admin_listen: %s
state: .bluegreen/state.db
admin_token_file: .bluegreen/admin.token
driver:
  kind: kubernetes
  kubernetes:
    kubeconfig: %s
    namespace: %s
    template:
      spec:
        nodeName: %s
        containers: [{ name: web, image: "example.com/shop:template" }]
    image: "example.com/shop:{version}"
    replicas: %d
    traffic: %s%s
health: { interval: 200ms, ready_timeout: 2m }
routing:
  preview_header: { name: X-Canary-Version, value_file: .bluegreen/preview.secret }
strategy: %s
bake_time: %s
scale_down_delay: %s
checks: []
`, appName, ports[0], ports[1], a.admin, a.counter.kubeconfig(t, env), a.ns, env.NodeName(),
		o.replicas, o.traffic, gatewayLine(o.gateway), o.strategy, o.bake, o.scaleDownDelay)
	if err := os.WriteFile(a.cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a.stop()
		if strings.Contains(a.logs.String(), "WARNING: DATA RACE") {
			t.Error("the race detector reported a data race in serve (logs below)")
		}
		if t.Failed() {
			t.Logf("serve logs:\n%s", a.logs.String())
		}
	})
	return a
}

// start runs `bluegreen serve` and waits until its admin API answers.
func (a *kubeApp) start() {
	a.t.Helper()
	cmd := exec.Command(bluegreenBin, "serve", "-c", a.cfg, "--log-level", "debug")
	cmd.Dir = a.dir
	cmd.Stdout, cmd.Stderr = a.logs, a.logs
	if err := cmd.Start(); err != nil {
		a.t.Fatal(err)
	}
	a.serve = cmd
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	a.serveDone = done
	waitFor(a.t, time.Minute, "serve to answer", func() bool {
		select {
		case err := <-done:
			a.serve = nil
			a.t.Fatalf("serve exited early: %v\n%s", err, a.logs.String())
		default:
		}
		_, _, code := a.cli("status", "--json")
		return code == 0
	})
}

// kill ends serve with SIGKILL, as a crash would.
func (a *kubeApp) kill() {
	a.t.Helper()
	if err := a.serve.Process.Signal(syscall.SIGKILL); err != nil {
		a.t.Fatalf("kill serve: %v", err)
	}
	<-a.serveDone
	a.serve = nil
}

// stop sends SIGTERM and waits for a graceful exit (exit 0).
func (a *kubeApp) stop() {
	if a.serve == nil {
		return
	}
	e2ebin.StopServe(a.t, a.serve.Process, a.serveDone)
	a.serve = nil
}

// cli runs a bluegreen command against this app.
func (a *kubeApp) cli(args ...string) (stdout, stderr string, code int) {
	stdout, stderr, code, err := e2ebin.CLI(bluegreenBin, a.dir, a.cfg, args...)
	if err != nil {
		a.t.Fatalf("run bluegreen %v: %v", args, err)
	}
	return stdout, stderr, code
}

// mustCLI runs a bluegreen command that must exit 0.
func (a *kubeApp) mustCLI(args ...string) string {
	a.t.Helper()
	out, errOut, code := a.cli(args...)
	if code != 0 {
		a.t.Fatalf("bluegreen %v: exit %d\n%s%s", args, code, out, errOut)
	}
	return out
}

func (a *kubeApp) status() api.Status {
	a.t.Helper()
	out := a.mustCLI("status", "--json")
	var st api.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		a.t.Fatalf("status json: %v\n%s", err, out)
	}
	return st
}

// deploymentView is GET /api/v1/deployments/{id}.
type deploymentView struct {
	store.Deployment
	Events []store.Event `json:"events"`
}

// deployment reads a deployment and its events from the admin API.
func (a *kubeApp) deployment(id int64) deploymentView {
	a.t.Helper()
	req, err := http.NewRequest("GET", fmt.Sprintf("http://%s/api/v1/deployments/%d", a.admin, id), nil)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("GET deployment %d: %v", id, err)
	}
	defer func() { _ = res.Body.Close() }()
	var v deploymentView
	if res.StatusCode != 200 {
		a.t.Fatalf("GET deployment %d: %s", id, res.Status)
	}
	if err := json.NewDecoder(res.Body).Decode(&v); err != nil {
		a.t.Fatalf("GET deployment %d: %v", id, err)
	}
	return v
}

// deploy starts a deployment of version (not waiting) and returns its id.
func (a *kubeApp) deploy(version string) int64 {
	a.t.Helper()
	out := a.mustCLI("deploy", version)
	var id int64
	if _, err := fmt.Sscanf(out, "deployment %d:", &id); err != nil {
		a.t.Fatalf("deploy %s: no id in %q", version, out)
	}
	return id
}

// waitEnded waits until deployment id is no longer active and returns it;
// for one that succeeded, also until serve has applied the route it ends
// with (the controller persists the transition before it writes the route
// objects, so the objects may lag the event by a pass).
func (a *kubeApp) waitEnded(id int64, within time.Duration) deploymentView {
	a.t.Helper()
	var v deploymentView
	waitFor(a.t, within, fmt.Sprintf("deployment %d to end", id), func() bool {
		v = a.deployment(id)
		return !v.Active
	})
	if v.Phase == "succeeded" {
		waitFor(a.t, within, fmt.Sprintf("the route of deployment %d to be applied", id), func() bool {
			r := a.status().Route
			return r.Live == v.Slot && r.Weights[v.Slot] == 100
		})
	}
	return v
}

// deploymentObject reads the slot's Deployment back.
func (a *kubeApp) deploymentObject(s slot.Slot) *appsv1.Deployment {
	a.t.Helper()
	d, err := a.client.AppsV1().Deployments(a.ns).Get(a.t.Context(), appName+"-"+string(s), metav1.GetOptions{})
	if err != nil {
		a.t.Fatalf("read back deployment %s-%s: %v", appName, s, err)
	}
	return d
}

// appDeployments lists the Deployments labelled app=<app>.
func (a *kubeApp) appDeployments() []string {
	a.t.Helper()
	list, err := a.client.AppsV1().Deployments(a.ns).List(a.t.Context(), metav1.ListOptions{LabelSelector: "app=" + appName})
	if err != nil {
		a.t.Fatalf("list deployments: %v", err)
	}
	var names []string
	for _, d := range list.Items {
		names = append(names, d.Name)
	}
	return names
}

// weightsOf are the data.weight of the deployment's events in order, with
// repeats and the weights before the first shift (0) left out.
func weightsOf(t *testing.T, evs []store.Event) []int {
	t.Helper()
	var ws []int
	for _, ev := range evs {
		var data struct {
			Weight *int `json:"weight"`
		}
		if len(ev.Data) == 0 {
			continue
		}
		if err := json.Unmarshal(ev.Data, &data); err != nil {
			t.Fatalf("event %d data %s: %v", ev.ID, ev.Data, err)
		}
		if data.Weight == nil || (len(ws) == 0 && *data.Weight == 0) {
			continue
		}
		if len(ws) == 0 || ws[len(ws)-1] != *data.Weight {
			ws = append(ws, *data.Weight)
		}
	}
	return ws
}

// phasesOf are the phases of the events in order, repeats left out.
func phasesOf(evs []store.Event) []string {
	var ps []string
	for _, ev := range evs {
		if len(ps) == 0 || ps[len(ps)-1] != ev.Phase {
			ps = append(ps, ev.Phase)
		}
	}
	return ps
}

// timeline records when a value read from an object changed, from the
// test's own watch of the object (not through the counter).
type timeline struct {
	mu     sync.Mutex
	values []stamped
}

type stamped struct {
	at    time.Time
	value string
}

func (tl *timeline) add(v string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if n := len(tl.values); n > 0 && tl.values[n-1].value == v {
		return
	}
	tl.values = append(tl.values, stamped{time.Now(), v})
}

// seq is the values in order.
func (tl *timeline) seq() []string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var out []string
	for _, s := range tl.values {
		out = append(out, s.value)
	}
	return out
}

// first is when v was first seen after after, or the zero time.
func (tl *timeline) first(v string, after time.Time) time.Time {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	for _, s := range tl.values {
		if s.value == v && !s.at.Before(after) {
			return s.at
		}
	}
	return time.Time{}
}

// poll reads value every 20ms until the test ends and records its changes;
// a read that fails records nothing. Polling, not a watch: it also sees an
// object that does not exist yet, and is simple to stop.
func (tl *timeline) poll(t *testing.T, read func(ctx context.Context) (string, error)) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if v, err := read(ctx); err == nil {
				tl.add(v)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// waitFor and freePorts are e2ebin's, shared with the other e2e packages.
var (
	waitFor   = e2ebin.WaitFor
	freePorts = e2ebin.FreePorts
)

// gatewayLine is the driver.kubernetes.gateway line of the config, if any.
func gatewayLine(gateway string) string {
	if gateway == "" {
		return ""
	}
	return "\n    gateway: " + gateway
}
