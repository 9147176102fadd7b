package hae2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/api"
	"github.com/bluegreen-dev/bluegreen/internal/capture"
	"github.com/bluegreen-dev/bluegreen/internal/e2ebin"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// appName is the app of every test; each test has a database of its own.
const appName = "shop"

// startBackend runs one instance of a release: it answers /health and
// names its version on every other path (body and X-Version).
func startBackend(t *testing.T, version string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"status":"healthy"}`)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Version", version)
		_, _ = io.WriteString(w, version)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// haOptions are the parts of the config a test chooses.
type haOptions struct {
	nodes    int
	url      string // the shared database
	strategy string
	bake     string
	// blue and green are the static slots' backends.
	blue, green []string
	mcp         bool // routing.mcp_sessions
	// env is added to every serve's environment (fault injection).
	env []string
}

// haCluster is n serve processes of one app sharing one database, each
// with its own config and listeners and the same admin token and preview
// secret.
type haCluster struct {
	t     *testing.T
	url   string
	token string
	nodes []*serveProc
}

// serveProc is one `bluegreen serve`.
type serveProc struct {
	t           *testing.T
	name        string
	dir, cfg    string
	prod, admin string
	token       string
	env         []string
	cmd         *exec.Cmd
	done        chan error
	logs        *capture.Buffer
}

func newHACluster(t *testing.T, o haOptions) *haCluster {
	t.Helper()
	secrets := t.TempDir()
	init := exec.Command(bluegreenBin, "init", "--app", appName)
	init.Dir = secrets
	if out, err := init.CombinedOutput(); err != nil {
		t.Fatalf("bluegreen init: %v\n%s", err, out)
	}
	tokenFile := filepath.Join(secrets, ".bluegreen/admin.token")
	token, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	c := &haCluster{t: t, url: o.url, token: strings.TrimSpace(string(token))}
	if o.bake == "" {
		o.bake = "1s"
	}
	// All the ports at once: one at a time, a port closed after one
	// call may come back from the next.
	all := freePorts(t, 3*o.nodes)
	for i := range o.nodes {
		p := &serveProc{t: t, name: fmt.Sprintf("serve-%d", i), dir: t.TempDir(), logs: &capture.Buffer{}, token: c.token, env: o.env}
		ports := all[3*i : 3*i+3]
		p.prod, p.admin = fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[2])
		p.cfg = filepath.Join(p.dir, "bluegreen.yaml")
		yaml := fmt.Sprintf(`app: %s
listen: %s
preview_listen: 127.0.0.1:%d
admin_listen: %s
state: %q
admin_token_file: %s
driver:
  kind: static
  static:
    blue: [%s]
    green: [%s]
health: { interval: 200ms, healthy_threshold: 2, ready_timeout: 1m }
routing:
  preview_header: { name: X-Canary-Version, value_file: %s }
  mcp_sessions: %v
strategy: %s
bake_time: %s
scale_down_delay: 1h
checks: []
`, appName, p.prod, ports[1], p.admin, o.url, tokenFile, quoteAll(o.blue), quoteAll(o.green),
			filepath.Join(secrets, ".bluegreen/preview.secret"), o.mcp, o.strategy, o.bake)
		if err := os.WriteFile(p.cfg, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, p)
		t.Cleanup(func() {
			p.stop()
			if strings.Contains(p.logs.String(), "WARNING: DATA RACE") {
				t.Errorf("the race detector reported a data race in %s (logs below)", p.name)
			}
			if t.Failed() {
				t.Logf("%s logs:\n%s", p.name, p.logs.String())
			}
		})
	}
	return c
}

func quoteAll(addrs []string) string {
	q := make([]string, len(addrs))
	for i, a := range addrs {
		q[i] = fmt.Sprintf("%q", a)
	}
	return strings.Join(q, ", ")
}

// start runs every serve and waits until each admin API answers.
func (c *haCluster) start() {
	for _, p := range c.nodes {
		p.start()
	}
	for _, p := range c.nodes {
		p.waitUp()
	}
}

// leader waits until exactly one live serve says it leads and returns it.
func (c *haCluster) leader(within time.Duration) *serveProc {
	c.t.Helper()
	return c.leaderAmong(c.live(), within)
}

// leaderAmong waits until exactly one of procs leads, as all of them
// know, and returns it.
func (c *haCluster) leaderAmong(procs []*serveProc, within time.Duration) *serveProc {
	c.t.Helper()
	var leader *serveProc
	waitFor(c.t, within, "one instance to lead", func() bool {
		leader = nil
		n := 0
		for _, p := range procs {
			st, err := p.status()
			if err != nil || st.Cluster == nil {
				return false
			}
			if st.Cluster.Leader {
				leader, n = p, n+1
			}
			// Every node knows who leads (it forwards commands there).
			known := false
			for _, in := range st.Cluster.Instances {
				known = known || in.Leader
			}
			if !known {
				return false
			}
		}
		return n == 1
	})
	return leader
}

// live are the serves still running.
func (c *haCluster) live() []*serveProc {
	var out []*serveProc
	for _, p := range c.nodes {
		if p.cmd != nil {
			out = append(out, p)
		}
	}
	return out
}

func (p *serveProc) start() {
	p.t.Helper()
	cmd := exec.Command(bluegreenBin, "serve", "-c", p.cfg, "--log-level", "debug")
	cmd.Dir = p.dir
	if len(p.env) > 0 {
		cmd.Env = append(os.Environ(), p.env...)
	}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.cmd = cmd
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	p.done = done
}

func (p *serveProc) waitUp() {
	p.t.Helper()
	waitFor(p.t, time.Minute, p.name+" to answer", func() bool {
		select {
		case err := <-p.done:
			p.cmd = nil
			p.t.Fatalf("%s exited early: %v\n%s", p.name, err, p.logs.String())
		default:
		}
		_, err := p.status()
		return err == nil
	})
}

// signal sends sig to serve.
func (p *serveProc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %s to %s: %v", sig, p.name, err)
	}
}

// kill ends serve with SIGKILL, as a crash would.
func (p *serveProc) kill() {
	p.t.Helper()
	p.signal(syscall.SIGKILL)
	<-p.done
	p.cmd = nil
}

// stop sends SIGTERM and waits for a graceful exit (exit 0).
func (p *serveProc) stop() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGCONT) // in case a test left it stopped
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			p.t.Errorf("%s did not exit 0 after SIGTERM: %v", p.name, err)
		}
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		p.t.Errorf("%s did not stop within 60s of SIGTERM", p.name)
		<-p.done
	}
	p.cmd = nil
}

// cli runs a bluegreen command against this serve.
func (p *serveProc) cli(args ...string) (stdout, stderr string, code int) {
	stdout, stderr, code, err := e2ebin.CLI(bluegreenBin, p.dir, p.cfg, args...)
	if err != nil {
		p.t.Fatalf("run bluegreen %v: %v", args, err)
	}
	return stdout, stderr, code
}

// mustCLI runs a bluegreen command that must exit 0.
func (p *serveProc) mustCLI(args ...string) string {
	p.t.Helper()
	out, errOut, code := p.cli(args...)
	if code != 0 {
		p.t.Fatalf("bluegreen %v on %s: exit %d\n%s%s", args, p.name, code, out, errOut)
	}
	return out
}

// adminGet decodes GET path on serve's admin API into v.
func (p *serveProc) adminGet(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+p.admin+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	res, err := adminClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = res.Body.Close() }()
	if res.StatusCode != 200 {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		return fmt.Errorf("GET %s on %s: %s %s", path, p.name, res.Status, b)
	}
	return json.NewDecoder(res.Body).Decode(v)
}

var adminClient = &http.Client{Timeout: 10 * time.Second}

func (p *serveProc) status() (api.Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var st api.Status
	err := p.adminGet(ctx, "/api/v1/status", &st)
	return st, err
}

// deploymentView is GET /api/v1/deployments/{id}.
type deploymentView struct {
	store.Deployment
	Events []deploymentEvent `json:"events"`
}

func (p *serveProc) deployment(id int64) deploymentView {
	p.t.Helper()
	var v deploymentView
	if err := p.adminGet(context.Background(), fmt.Sprintf("/api/v1/deployments/%d", id), &v); err != nil {
		p.t.Fatal(err)
	}
	return v
}

// deploy starts a deployment of version through this serve (not
// waiting) and returns its id.
func (p *serveProc) deploy(version string) int64 {
	p.t.Helper()
	out := p.mustCLI("deploy", version)
	var id int64
	if _, err := fmt.Sscanf(out, "deployment %d:", &id); err != nil {
		p.t.Fatalf("deploy %s: no id in %q", version, out)
	}
	return id
}

// waitFor and freePorts are e2ebin's, shared with the other e2e packages.
var (
	waitFor   = e2ebin.WaitFor
	freePorts = e2ebin.FreePorts
)

// deploymentEvent is one event of a deployment.
type deploymentEvent = store.Event
