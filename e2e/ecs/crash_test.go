package ecse2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/e2e/ecs/standin"
	"github.com/bluegreen-dev/bluegreen/internal/capture"
	"github.com/bluegreen-dev/bluegreen/internal/e2ebin"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

const image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop:"

// crashEnv is serve's fault point after a production listener write
// (internal/server/ecs.go).
const crashEnv = "BLUEGREEN_FAULT_ECS_CRASH_AFTER_WRITE"

// ecsApp is one bluegreen setup in a temp dir (config from `bluegreen
// init`, driver.kind ecs) against a stand-in of its own (aws; nil for
// the live test), and the serve process of the moment.
type ecsApp struct {
	t               *testing.T
	aws             *standin.Server
	blueTG, greenTG string
	prod, test      string
	dir, cfg, admin string
	token           string
	env             []string // serve's environment, beside the test's

	serve *exec.Cmd
	done  chan error
	logs  *capture.Buffer
}

func newECSApp(t *testing.T, strategy string, extra ...string) *ecsApp {
	t.Helper()
	// Targets on loopback: nothing dials them, and no address outside
	// this machine is ever named.
	aws := standin.New(standin.Options{StaleReads: 2, Addr: func(svc string, n int) string {
		port := 40000 + n
		if strings.HasSuffix(svc, "-green") {
			port += 1000
		}
		return fmt.Sprintf("127.0.0.1:%d", port)
	}})
	t.Cleanup(aws.Close)
	td := aws.AddTaskDefinition("shop", "web", image+"v0")
	blueTG, greenTG := aws.AddTargetGroup("shop-blue"), aws.AddTargetGroup("shop-green")
	aws.AddService("prod", "shop-blue", td, 0, blueTG, "web")
	aws.AddService("prod", "shop-green", td, 0, greenTG, "web")
	prod, test := aws.AddListener(80, blueTG, 3600), aws.AddListener(8080, greenTG, 0)
	driver := fmt.Sprintf(`region: eu-west-1
cluster: prod
service: shop
task_family: shop
container: web
image: %s{version}
target_groups: { blue: %s, green: %s }
listener: %s
test_listener: %s
endpoint: %s`, image, blueTG, greenTG, prod, test, aws.URL())
	a := newApp(t, driver, strategy, strings.Join(append([]string{"health: { interval: 100ms, ready_timeout: 1m }"}, extra...), "\n"),
		"AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=secret", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	a.aws, a.blueTG, a.greenTG, a.prod, a.test = aws, blueTG, greenTG, prod, test
	return a
}

// newApp is a bluegreen setup in a temp dir: `bluegreen init`, then a
// config with driver.kind ecs and driverYAML as driver.ecs, strategy and
// health (top-level YAML: health and any other section); serve runs with
// env added to the test's environment.
func newApp(t *testing.T, driverYAML, strategy, health string, env ...string) *ecsApp {
	t.Helper()
	a := &ecsApp{t: t, dir: t.TempDir(), logs: &capture.Buffer{}, env: env}
	init := exec.Command(bluegreenBin, "init", "--app", "shop")
	init.Dir = a.dir
	if out, err := init.CombinedOutput(); err != nil {
		t.Fatalf("bluegreen init: %v\n%s", err, out)
	}
	token, err := os.ReadFile(filepath.Join(a.dir, ".bluegreen/admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	a.token = strings.TrimSpace(string(token))
	ports := e2ebin.FreePorts(t, 3)
	a.admin = fmt.Sprintf("127.0.0.1:%d", ports[2])
	a.cfg = filepath.Join(a.dir, "bluegreen.yaml")
	yaml := fmt.Sprintf(`app: shop
listen: 127.0.0.1:%d
preview_listen: 127.0.0.1:%d
admin_listen: %s
state: .bluegreen/state.db
admin_token_file: .bluegreen/admin.token
driver:
  kind: ecs
  ecs:
    %s
%s
strategy: %s
bake_time: 500ms
scale_down_delay: 1h
checks: []
`, ports[0], ports[1], a.admin, strings.ReplaceAll(driverYAML, "\n", "\n    "), health, strategy)
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

// start runs `bluegreen serve` with env added and waits until its admin
// API answers.
func (a *ecsApp) start(env ...string) {
	a.t.Helper()
	cmd := exec.Command(bluegreenBin, "serve", "-c", a.cfg, "--log-level", "debug")
	cmd.Dir = a.dir
	cmd.Env = append(append(os.Environ(), a.env...), env...)
	cmd.Stdout, cmd.Stderr = a.logs, a.logs
	if err := cmd.Start(); err != nil {
		a.t.Fatal(err)
	}
	a.serve, a.done = cmd, make(chan error, 1)
	go func() { a.done <- cmd.Wait() }()
	e2ebin.WaitFor(a.t, time.Minute, "serve to answer", func() bool {
		select {
		case err := <-a.done:
			a.serve = nil
			a.t.Fatalf("serve exited early: %v\n%s", err, a.logs.String())
		default:
		}
		_, _, code, err := e2ebin.CLI(bluegreenBin, a.dir, a.cfg, "status", "--json")
		return err == nil && code == 0
	})
}

// stop sends SIGTERM and waits for a graceful exit (exit 0).
func (a *ecsApp) stop() {
	if a.serve == nil {
		return
	}
	e2ebin.StopServe(a.t, a.serve.Process, a.done)
	a.serve = nil
}

// killedBySelf waits until serve died of SIGKILL (its fault point).
func (a *ecsApp) killedBySelf(within time.Duration) {
	a.t.Helper()
	select {
	case err := <-a.done:
		a.serve = nil
		ee, ok := err.(*exec.ExitError)
		if !ok {
			a.t.Fatalf("serve exited with %v, want killed by SIGKILL", err)
		}
		if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			a.t.Fatalf("serve exited with %v, want killed by SIGKILL", err)
		}
	case <-time.After(within):
		a.t.Fatalf("serve did not kill itself within %s", within)
	}
}

// deploy starts a deployment of version (not waiting) and returns its id.
func (a *ecsApp) deploy(version string) int64 {
	a.t.Helper()
	out, errOut, code, err := e2ebin.CLI(bluegreenBin, a.dir, a.cfg, "deploy", version)
	if err != nil || code != 0 {
		a.t.Fatalf("bluegreen deploy %s: exit %d %v\n%s%s", version, code, err, out, errOut)
	}
	var id int64
	if _, err := fmt.Sscanf(out, "deployment %d:", &id); err != nil {
		a.t.Fatalf("deploy %s: no id in %q", version, out)
	}
	return id
}

// deploymentView is GET /api/v1/deployments/{id}.
type deploymentView struct {
	store.Deployment
	Events []store.Event `json:"events"`
}

// deployment reads a deployment and its events from the admin API.
func (a *ecsApp) deployment(id int64) (deploymentView, error) {
	req, err := http.NewRequest("GET", fmt.Sprintf("http://%s/api/v1/deployments/%d", a.admin, id), nil)
	if err != nil {
		return deploymentView{}, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return deploymentView{}, err
	}
	defer func() { _ = res.Body.Close() }()
	if res.StatusCode != 200 {
		return deploymentView{}, fmt.Errorf("GET deployment %d: %s", id, res.Status)
	}
	var v deploymentView
	err = json.NewDecoder(res.Body).Decode(&v)
	return v, err
}

// waitEnded waits until deployment id has ended and, when it succeeded,
// the production listener forwards all to its slot's target group.
func (a *ecsApp) waitEnded(id int64, tg string, within time.Duration) deploymentView {
	a.t.Helper()
	var v deploymentView
	e2ebin.WaitFor(a.t, within, fmt.Sprintf("deployment %d to end with its route applied", id), func() bool {
		var err error
		v, err = a.deployment(id)
		if err != nil || v.Active {
			return false
		}
		if v.Phase != "succeeded" {
			return true
		}
		// The route of the end is applied after the phase is persisted: the
		// production listener is on tg, and the test listener has left it
		// for the idle group.
		done := standin.Weights(a.aws.Listener(a.prod))[tg] == 100
		if a.test != "" {
			done = done && standin.Weights(a.aws.Listener(a.test))[tg] == 0
		}
		return done
	})
	return v
}

// written is the weight each production listener write from the from'th
// on gave tg.
func (a *ecsApp) written(from int, tg string) []int {
	var out []int
	for _, acts := range a.aws.Writes(a.prod)[from:] {
		out = append(out, standin.Weights(acts)[tg])
	}
	return out
}

// TestKilledBetweenListenerWriteAndNextEvent: serve (linear 25% every
// 700ms, v1 live in green) SIGKILLs itself right after a ModifyListener
// of the production listener returned success, before anything after it
// is persisted: after the 2nd write of v2 (blue at 50%, mid-shift) and,
// in a second run, after the 4th (blue at 100%, the last). Restarted on
// the same state, serve reads the listener back, finds the step applied,
// and does not write it again: v2 succeeds, the production listener got
// each of 25, 50, 75, 100 exactly once, the events carry each weight
// once and in order with no event twice, and the test listener forwards
// to the idle slot at the end.
func TestKilledBetweenListenerWriteAndNextEvent(t *testing.T) {
	for _, kill := range []struct {
		name   string
		writes int // production listener writes of v2 before the kill
	}{{"mid-shift", 2}, {"last-step", 4}} {
		t.Run(kill.name, func(t *testing.T) {
			a := newECSApp(t, "linear 25% every 700ms")
			a.start()
			v1 := a.waitEnded(a.deploy("v1"), a.greenTG, time.Minute)
			if v1.Phase != "succeeded" || v1.Slot != "green" {
				t.Fatalf("v1: %s in %s (%s), want succeeded in green", v1.Phase, v1.Slot, v1.Reason)
			}
			a.stop()

			a.start(fmt.Sprintf("%s=%d", crashEnv, kill.writes))
			before := len(a.aws.Writes(a.prod))
			id := a.deploy("v2")
			a.killedBySelf(time.Minute)
			killed := time.Now()
			if got := a.written(before, a.blueTG); len(got) != kill.writes {
				t.Fatalf("serve died after %d writes of the production listener (%v), want %d", len(got), got, kill.writes)
			}
			atKill := standin.Weights(a.aws.Listener(a.prod))
			writesAtKill := len(a.aws.Writes(a.prod))
			t.Logf("killed after write %d: the production listener forwards %v", kill.writes, atKill)

			a.start()
			v2 := a.waitEnded(id, a.blueTG, 2*time.Minute)
			t.Logf("v2 %s %s after the restart; production listener writes since the kill: %v",
				v2.Phase, time.Since(killed).Round(time.Millisecond), a.written(writesAtKill, a.blueTG))
			if v2.Phase != "succeeded" || v2.Slot != "blue" {
				t.Fatalf("v2 after the restart: %s in %s (%s), want succeeded in blue", v2.Phase, v2.Slot, v2.Reason)
			}
			if got := a.written(before, a.blueTG); !slices.Equal(got, []int{25, 50, 75, 100}) {
				t.Errorf("production listener wrote blue %v for v2, want 25, 50, 75, 100 exactly once each (the step in force at the kill was written again?)", got)
			}
			if kill.writes == 4 && len(a.aws.Writes(a.prod)) != writesAtKill {
				t.Errorf("after a kill following the last step, the restarted serve wrote the production listener %d times, want 0",
					len(a.aws.Writes(a.prod))-writesAtKill)
			}
			var weights []int
			seen := map[string]bool{}
			lastID := int64(0)
			for _, ev := range v2.Events {
				if ev.ID <= lastID {
					t.Errorf("event %d (%s) after event %d: out of order", ev.ID, ev.Phase, lastID)
				}
				lastID = ev.ID
				key := ev.Phase + " " + string(ev.Data)
				if seen[key] {
					t.Errorf("event %s %s recorded twice", ev.Phase, ev.Data)
				}
				seen[key] = true
				var data struct {
					Weight *int `json:"weight"`
				}
				if ev.Phase == "shifting" && json.Unmarshal(ev.Data, &data) == nil && data.Weight != nil {
					weights = append(weights, *data.Weight)
				}
			}
			if !slices.Equal(weights, []int{25, 50, 75}) {
				t.Errorf("shifting events' weights %v, want 25, 50, 75", weights)
			}
			if w := standin.Weights(a.aws.Listener(a.test)); w[a.greenTG] != 100 {
				t.Errorf("test listener forwards %v at the end, want the idle green", w)
			}
			if w := standin.Weights(a.aws.Listener(a.prod)); w[a.blueTG] != 100 || len(a.aws.Listener(a.prod)[0].Forward) != 1 {
				t.Errorf("production listener at the end %+v, want blue alone", a.aws.Listener(a.prod))
			}
			if !a.aws.Listener(a.prod)[0].Sticky {
				t.Error("the production listener lost its stickiness")
			}
		})
	}
}
