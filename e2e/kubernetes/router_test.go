package kubee2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bluegreen-dev/bluegreen/internal/kubetest"
	"github.com/bluegreen-dev/bluegreen/internal/router"
	"github.com/bluegreen-dev/bluegreen/internal/testshared"
)

// podNetwork makes the test control plane's pod IPs reachable: a network
// namespace of the test's own, joined to this one by a veth pair, in which
// every address of the node's pod range is local (an AnyIP route), and a
// route from here to that range through the pair. A process started in
// the namespace (netns.run) can then listen on a pod's IP, standing in for
// the container kwok does not run. Needs root and iproute2.
type netns struct {
	t    *testing.T
	name string
}

func podNetwork(t *testing.T, podCIDR string) *netns {
	t.Helper()
	if os.Geteuid() != 0 {
		testshared.Unavailable(t, "the router mode e2e test needs root for a network namespace (ip netns add)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		testshared.Unavailable(t, "the router mode e2e test needs iproute2 (ip) for a network namespace")
	}
	n := &netns{t: t, name: fmt.Sprintf("bgk%d", os.Getpid()%1000000)}
	host, peer := n.name+"h", n.name+"n"
	const hostAddr, peerAddr = "10.201.0.1/30", "10.201.0.2/30"
	steps := [][]string{
		{"netns", "add", n.name},
		{"link", "add", host, "type", "veth", "peer", "name", peer},
		{"link", "set", peer, "netns", n.name},
		{"addr", "add", hostAddr, "dev", host},
		{"link", "set", host, "up"},
		{"-n", n.name, "addr", "add", peerAddr, "dev", peer},
		{"-n", n.name, "link", "set", peer, "up"},
		{"-n", n.name, "link", "set", "lo", "up"},
		{"-n", n.name, "route", "add", "local", podCIDR, "dev", "lo"},
		{"route", "add", podCIDR, "via", strings.TrimSuffix(peerAddr, "/30")},
	}
	t.Cleanup(func() {
		// Best effort, in reverse; deleting the namespace removes its end
		// of the pair, which removes ours and the route through it.
		_ = exec.Command("ip", "route", "del", podCIDR).Run()
		_ = exec.Command("ip", "link", "del", host).Run()
		_ = exec.Command("ip", "netns", "del", n.name).Run()
	})
	for _, args := range steps {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return n
}

// run starts bin with args in the namespace.
func (n *netns) run(bin string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.name, bin}, args...)...)
}

// podRunner plays the kubelet's part kwok leaves out: for every Running,
// Ready pod of the app it runs the example MCP app on the pod's IP, port
// 80, as the pod's release and slot, and stops it when the pod goes.
type podRunner struct {
	mu    sync.Mutex
	procs map[string]*exec.Cmd // by pod UID
	logs  strings.Builder
}

func runPods(t *testing.T, a *kubeApp, n *netns, bin string) *podRunner {
	t.Helper()
	r := &podRunner{procs: map[string]*exec.Cmd{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			pods, err := a.client.CoreV1().Pods(a.ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + appName})
			if err == nil {
				r.sync(n, bin, pods.Items)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		r.sync(n, bin, nil)
		if t.Failed() {
			t.Logf("pod processes:\n%s", r.logs.String())
		}
	})
	return r
}

// sync starts a process for each new ready pod and stops those whose pod
// is gone or being deleted.
func (r *podRunner) sync(n *netns, bin string, pods []corev1.Pod) {
	r.mu.Lock()
	defer r.mu.Unlock()
	want := map[string]bool{}
	for _, p := range pods {
		if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
			continue
		}
		uid := string(p.UID)
		want[uid] = true
		if r.procs[uid] != nil {
			continue
		}
		version, slotName := p.Annotations["bluegreen.dev/version"], p.Labels["version"]
		cmd := n.run(bin, "--listen", p.Status.PodIP+":80", "--version", version, "--slot", slotName)
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		if err := cmd.Start(); err != nil {
			fmt.Fprintf(&r.logs, "start %s (%s %s): %v\n", p.Status.PodIP, slotName, version, err)
			continue
		}
		fmt.Fprintf(&r.logs, "started %s on %s as %s %s\n", p.Name, p.Status.PodIP, slotName, version)
		r.procs[uid] = cmd
	}
	for uid, cmd := range r.procs {
		if want[uid] {
			continue
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		delete(r.procs, uid)
	}
}

var (
	mcpAppOnce sync.Once
	mcpAppBin  string
	mcpAppErr  error
)

// mcpApp builds examples/mcp-app once per test binary.
func mcpApp(t *testing.T) string {
	t.Helper()
	mcpAppOnce.Do(func() {
		mcpAppBin = filepath.Join(filepath.Dir(bluegreenBin), "mcp-app")
		out, err := exec.Command("go", "build", "-o", mcpAppBin, "../../examples/mcp-app").CombinedOutput()
		if err != nil {
			mcpAppErr = fmt.Errorf("build examples/mcp-app: %v\n%s", err, out)
		}
	})
	if mcpAppErr != nil {
		t.Fatal(mcpAppErr)
	}
	return mcpAppBin
}

// load sends GET / through the production listener from clients
// goroutines until stop, counting answers and failures.
type load struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	firstErr   string
	bySlot     map[string]int
	stop       chan struct{}
	done       sync.WaitGroup
}

func startLoad(addr string, clients int) *load {
	l := &load{stop: make(chan struct{}), bySlot: map[string]int{}}
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for range clients {
		l.done.Go(func() {
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				resp, err := hc.Get("http://" + addr + "/")
				if err != nil {
					l.fail(err.Error())
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					l.fail(fmt.Sprintf("%d %s", resp.StatusCode, resp.Header.Get("X-Bluegreen-Error")))
					continue
				}
				l.ok.Add(1)
				l.mu.Lock()
				l.bySlot[resp.Header.Get("X-Bluegreen-Slot")]++
				l.mu.Unlock()
			}
		})
	}
	return l
}

func (l *load) fail(why string) {
	if l.failed.Add(1) == 1 {
		l.mu.Lock()
		l.firstErr = why
		l.mu.Unlock()
	}
}

func (l *load) end() {
	close(l.stop)
	l.done.Wait()
}

// kwokPodCIDR is the range kwok gives pod IPs from (its --cidr default).
const kwokPodCIDR = "10.0.0.0/24"

// TestRouterModeDeployAndRollbackUnderLoad: traffic router, bluegreen's
// own router in front of the pods, which run the example MCP app in a
// network namespace on their pod IPs. Under load, v2 is deployed (linear)
// and rolled back: no request fails, and MCP sessions opened on v1 before
// the switch finish on v1 after it (pinned to their pods): every HTTP
// response of theirs after the switch, up to the DELETE that ends them,
// names blue in X-Bluegreen-Slot, and their get_customer answers have v1's
// shape. New sessions reach v2.
func TestRouterModeDeployAndRollbackUnderLoad(t *testing.T) {
	env := kubetest.Shared(t)
	node, err := env.Client().CoreV1().Nodes().Get(t.Context(), env.NodeName(), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("read node: %v", err)
	}
	podCIDR := node.Spec.PodCIDR
	if podCIDR == "" {
		podCIDR = kwokPodCIDR // kwok's own pool when the node has no range
	}
	n := podNetwork(t, podCIDR)
	bin := mcpApp(t)

	a := newKubeApp(t, kubeOptions{traffic: "router", strategy: "linear 50% every 2s", bake: "1s", scaleDownDelay: "10m"})
	runPods(t, a, n, bin)
	a.start()

	v1 := a.waitEnded(a.deploy("v1"), 2*time.Minute)
	if v1.Phase != "succeeded" {
		t.Fatalf("v1: %s (%s); phases %v", v1.Phase, v1.Reason, phasesOf(v1.Events))
	}
	blue := v1.Slot

	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	const sessions = 8
	var opened []*mcp.ClientSession
	var seen []*slotRecorder
	for i := range sessions {
		rec := &slotRecorder{}
		cs, err := connectMCP(ctx, a.prod, rec)
		if err != nil {
			t.Fatalf("session %d on v1: %v", i, err)
		}
		if v := cs.InitializeResult().ServerInfo.Version; v != "v1" {
			t.Fatalf("session %d initialised by %s while v1 is live", i, v)
		}
		if v := customerShape(ctx, cs); v != "v1" {
			t.Fatalf("session %d: get_customer answered as %s while v1 is live", i, v)
		}
		if got := rec.slots(); len(got) == 0 || !allOf(got, string(blue)) {
			t.Fatalf("session %d on v1: responses from slots %v, want %s only", i, got, blue)
		}
		opened = append(opened, cs)
		seen = append(seen, rec)
	}
	closed := false
	defer func() {
		if !closed {
			for _, cs := range opened {
				_ = cs.Close()
			}
		}
	}()

	l := startLoad(a.prod, 16)
	began := time.Now()
	v2 := a.waitEnded(a.deploy("v2"), 3*time.Minute)
	if v2.Phase != "succeeded" {
		l.end()
		t.Fatalf("v2: %s (%s); phases %v", v2.Phase, v2.Reason, phasesOf(v2.Events))
	}
	t.Logf("v2 into %s: %s from deploy to succeeded; phases %v; event weights %v",
		v2.Slot, time.Since(began).Round(time.Millisecond), phasesOf(v2.Events), weightsOf(t, v2.Events))
	if got := weightsOf(t, v2.Events); len(got) == 0 || got[len(got)-1] != 100 {
		t.Errorf("v2 event weights %v, want steps ending at 100", got)
	}

	// The sessions opened on v1 finish on v1: their pods are in blue,
	// warm, and the router sends each session to the pod that issued it.
	// Every response from here to the DELETE that ends a session (the
	// standalone SSE stream's too, should it reconnect) must come from
	// blue.
	for _, rec := range seen {
		rec.reset()
	}
	for i, cs := range opened {
		if _, err := cs.ListTools(ctx, nil); err != nil {
			t.Errorf("session %d (opened on v1) after the switch to v2: list tools: %v", i, err)
		}
		if v := customerShape(ctx, cs); v != "v1" {
			t.Errorf("session %d (opened on v1) after the switch to v2: get_customer answered as %s, want v1", i, v)
		}
	}
	closed = true
	for i, cs := range opened {
		if err := cs.Close(); err != nil {
			t.Errorf("session %d (opened on v1): close after the switch to v2: %v", i, err)
		}
		got := seen[i].slots()
		if !slices.Contains(seen[i].methods(), http.MethodDelete) {
			t.Errorf("session %d (opened on v1): no DELETE ended it (requests %v)", i, seen[i].methods())
		}
		if len(got) == 0 || !allOf(got, string(blue)) {
			t.Errorf("session %d (opened on v1): after the switch to %s answered by slots %v (requests %v), want %s only",
				i, v2.Slot, got, seen[i].methods(), blue)
		}
	}
	t.Logf("after the switch to %s (v2), the %d sessions opened on v1 were answered by v1's slot %s; session 0: requests %v, slots %v",
		v2.Slot, sessions, blue, seen[0].methods(), seen[0].slots())
	freshRec := &slotRecorder{}
	fresh, err := connectMCP(ctx, a.prod, freshRec)
	if err != nil {
		t.Fatalf("new session after the switch: %v", err)
	}
	if v := fresh.InitializeResult().ServerInfo.Version; v != "v2" {
		t.Errorf("new session after the switch initialised by %s, want v2", v)
	}
	if v := customerShape(ctx, fresh); v != "v2" {
		t.Errorf("new session after the switch: get_customer answered as %s, want v2", v)
	}
	if got := freshRec.slots(); len(got) == 0 || !allOf(got, string(v2.Slot)) {
		t.Errorf("new session after the switch answered by slots %v, want %s only", got, v2.Slot)
	}
	_ = fresh.Close()

	rolled := time.Now()
	a.mustCLI("rollback")
	waitFor(t, time.Minute, "the route back on "+string(blue), func() bool {
		r := a.status().Route
		return r.Live == blue && r.Weights[blue] == 100
	})
	t.Logf("rollback: route back on %s %s after the command", blue, time.Since(rolled).Round(time.Millisecond))
	time.Sleep(2 * time.Second) // traffic on the rolled-back route
	l.end()

	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("load: %d requests answered, %d failed; by slot %v", l.ok.Load(), l.failed.Load(), l.bySlot)
	if f := l.failed.Load(); f > 0 {
		t.Errorf("%d requests failed through the router during deploy and rollback; first: %s", f, l.firstErr)
	}
	if l.bySlot[string(blue)] == 0 || l.bySlot[string(v2.Slot)] == 0 {
		t.Errorf("answers by slot %v: want both %s and %s to have served", l.bySlot, blue, v2.Slot)
	}
}

// connectMCP opens an MCP client session through bluegreen at addr whose
// HTTP responses rec records.
func connectMCP(ctx context.Context, addr string, rec *slotRecorder) (*mcp.ClientSession, error) {
	c := mcp.NewClient(&mcp.Implementation{Name: "kube-e2e", Version: "1"}, nil)
	rec.next = &http.Transport{}
	return c.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint:   "http://" + addr + "/mcp",
		HTTPClient: &http.Client{Transport: rec},
	}, nil)
}

// slotRecorder is an http.RoundTripper that records, for every response
// of one MCP session, its request's method and the slot bluegreen's
// router names in it (router.HeaderSlot; "" when missing).
type slotRecorder struct {
	next http.RoundTripper

	mu   sync.Mutex
	seen [][2]string // method, slot
}

func (r *slotRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	r.mu.Lock()
	r.seen = append(r.seen, [2]string{req.Method, resp.Header.Get(router.HeaderSlot)})
	r.mu.Unlock()
	return resp, nil
}

func (r *slotRecorder) reset() {
	r.mu.Lock()
	r.seen = nil
	r.mu.Unlock()
}

// slots are the slots named by the responses recorded, in order.
func (r *slotRecorder) slots() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range r.seen {
		out = append(out, s[1])
	}
	return out
}

// methods are the methods of the requests recorded, in order.
func (r *slotRecorder) methods() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range r.seen {
		out = append(out, s[0])
	}
	return out
}

// allOf reports whether every element of got is want.
func allOf(got []string, want string) bool {
	for _, g := range got {
		if g != want {
			return false
		}
	}
	return true
}

// customerShape calls the example app's get_customer and names the
// release by its answer's shape: v2 adds a structured address_info that
// v1 lacks. An error is returned as the answer's description.
func customerShape(ctx context.Context, cs *mcp.ClientSession) string {
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "get_customer", Arguments: map[string]any{"id": "t1"}})
	if err != nil {
		return "error: " + err.Error()
	}
	if res.IsError {
		return fmt.Sprintf("tool error: %v", res.Content)
	}
	out, ok := res.StructuredContent.(map[string]any)
	if !ok {
		return fmt.Sprintf("no structured content: %T", res.StructuredContent)
	}
	if out["id"] != "t1" {
		return fmt.Sprintf("customer %v, want t1", out["id"])
	}
	if _, ok := out["address_info"]; ok {
		return "v2"
	}
	return "v1"
}
