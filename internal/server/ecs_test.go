package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/e2e/ecs/standin"
	"github.com/bluegreen-dev/bluegreen/internal/analysis"
	"github.com/bluegreen-dev/bluegreen/internal/analysis/provider"
	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/deploy"
	ecsdriver "github.com/bluegreen-dev/bluegreen/internal/driver/ecs"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store"
	"github.com/bluegreen-dev/bluegreen/internal/store/sqlite"
)

const ecsImage = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop:"

// ecsWorldOptions shape an ecsWorld.
type ecsWorldOptions struct {
	standin        standin.Options
	noTestListener bool
	strategy       string        // default linear 25% every 200ms
	scaleDownDelay time.Duration // default an hour
	// analysis, when set, is the config's analysis section (YAML, at the
	// top level); the controller then gets it with its providers and a
	// Meter that measures nothing, as bluegreen's router with the ecs
	// driver.
	analysis string
}

// noTraffic is bluegreen's router's Meter with the ecs driver: users'
// requests go through the ALB, so it counts none.
type noTraffic struct{}

func (noTraffic) Measure(slot.Slot) analysis.Measurement { return analysis.Measurement{} }

// ecsWorld is the stand-in with the articles' setup (services shop-blue
// and shop-green at 0 tasks, a target group each, the production
// listener on blue with lb_cookie stickiness and, unless left out, the
// test listener on green), a bluegreen.yaml with driver.kind ecs pointed
// at it, and the controller serve builds over it (the ecs driver, its
// Listener as the Router) running on a SQLite store.
type ecsWorld struct {
	aws                *standin.Server
	blueTG, greenTG    string
	prod, test         string
	st                 store.Store
	ctrl               *deploy.Controller
	lis                *ecsdriver.Listener
	blueSvc, greenSvc  string
	scaleDown, timeout time.Duration
}

func newECSWorld(t *testing.T, o ecsWorldOptions) *ecsWorld {
	t.Helper()
	if o.strategy == "" {
		o.strategy = "linear 25% every 200ms"
	}
	if o.scaleDownDelay == 0 {
		o.scaleDownDelay = time.Hour
	}
	aws := standin.New(o.standin)
	t.Cleanup(aws.Close)
	w := &ecsWorld{aws: aws, blueSvc: "shop-blue", greenSvc: "shop-green", scaleDown: o.scaleDownDelay, timeout: time.Minute}
	td := aws.AddTaskDefinition("shop", "web", ecsImage+"v0")
	w.blueTG, w.greenTG = aws.AddTargetGroup("shop-blue"), aws.AddTargetGroup("shop-green")
	aws.AddService("prod", w.blueSvc, td, 0, w.blueTG, "web")
	aws.AddService("prod", w.greenSvc, td, 0, w.greenTG, "web")
	w.prod = aws.AddListener(80, w.blueTG, 3600)
	testLine := ""
	if !o.noTestListener {
		w.test = aws.AddListener(8080, w.greenTG, 0)
		testLine = "\n    test_listener: " + w.test
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")

	dir := t.TempDir()
	yaml := fmt.Sprintf(`app: shop
driver:
  kind: ecs
  ecs:
    region: eu-west-1
    cluster: prod
    service: shop
    task_family: shop
    container: web
    image: %s{version}
    target_groups: { blue: %s, green: %s }
    listener: %s%s
    endpoint: %s
strategy: %s
%s
`, ecsImage, w.blueTG, w.greenTG, w.prod, testLine, aws.URL(), o.strategy, o.analysis)
	if err := os.WriteFile(filepath.Join(dir, "bluegreen.yaml"), []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(filepath.Join(dir, "bluegreen.yaml"))
	if err != nil {
		t.Fatalf("load config: %v", err)
	}
	rt, err := newRuntime(cfg, nil)
	if err != nil {
		t.Fatalf("newRuntime: %v", err)
	}
	e, ok := rt.(ecsRuntime)
	if !ok {
		t.Fatalf("runtime %T, want ecsRuntime", rt)
	}
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	w.st = st
	w.lis = ecsdriver.NewListener(e.Driver)
	opts := deploy.Options{
		App: "shop", Store: st, Runtime: e, Router: w.lis,
		Strategy: cfg.Strategy.String(), ScaleDownDelay: o.scaleDownDelay,
		ReadyTimeout: time.Minute, PollInterval: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
	}
	if o.analysis != "" {
		// As newController does for the ecs driver.
		opts.Meter, opts.Analysis = noTraffic{}, ecsAnalysis(&cfg.Analysis)
		ps, err := provider.New(cfg.Analysis.Providers, nil)
		if err != nil {
			t.Fatal(err)
		}
		opts.Providers = ps
	}
	w.ctrl, err = deploy.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.ctrl.Restore(ctx); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.ctrl.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return w
}

// ended waits until deployment id has ended and its last route is
// applied: the controller persists the transition before it applies the
// route, so the listeners follow a moment after the phase.
func (w *ecsWorld) ended(t *testing.T, id int64) store.Deployment {
	t.Helper()
	deadline := time.Now().Add(w.timeout)
	for {
		got, err := w.st.GetDeployment(t.Context(), id)
		if err == nil && !got.Active {
			want := got.Slot
			if got.Phase != string(deploy.PhaseSucceeded) {
				want = got.Slot.Other()
			}
			if live, _ := w.lis.Route(); live == want {
				return got
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("deployment %d did not end with its route applied: %s (%s)", id, got.Phase, got.Reason)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// run deploys version and waits until it ended.
func (w *ecsWorld) run(t *testing.T, version string) store.Deployment {
	t.Helper()
	d, err := w.ctrl.Deploy(t.Context(), version, "")
	if err != nil {
		t.Fatalf("deploy %s: %v", version, err)
	}
	return w.ended(t, d.ID)
}

// mustSucceed runs version and fails the test unless it succeeded in slot.
func (w *ecsWorld) mustSucceed(t *testing.T, version, slotName string) store.Deployment {
	t.Helper()
	d := w.run(t, version)
	if d.Phase != string(deploy.PhaseSucceeded) || string(d.Slot) != slotName {
		t.Fatalf("%s: %s in %s (%s), want succeeded in %s", version, d.Phase, d.Slot, d.Reason, slotName)
	}
	return d
}

// rollback rolls back and waits until it ended; it must succeed.
func (w *ecsWorld) rollback(t *testing.T) store.Deployment {
	t.Helper()
	rb, err := w.ctrl.Rollback(t.Context())
	if err != nil {
		t.Fatalf("rollback: %v", err)
	}
	got := w.ended(t, rb.ID)
	if got.Phase != string(deploy.PhaseSucceeded) {
		t.Fatalf("rollback: %s (%s)", got.Phase, got.Reason)
	}
	return got
}

// shiftWeights are the weights of d's shifting events, in order.
func (w *ecsWorld) shiftWeights(t *testing.T, d store.Deployment) []int {
	t.Helper()
	evs, err := w.st.Events(t.Context(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	var weights []int
	for _, ev := range evs {
		var data struct {
			Weight *int `json:"weight"`
		}
		if ev.Phase == string(deploy.PhaseShifting) && json.Unmarshal(ev.Data, &data) == nil && data.Weight != nil {
			weights = append(weights, *data.Weight)
		}
	}
	return weights
}

// written is what the production listener's writes from the from'th on
// gave target group tg, in order.
func (w *ecsWorld) written(from int, tg string) []int {
	var out []int
	for _, acts := range w.aws.Writes(w.prod)[from:] {
		out = append(out, standin.Weights(acts)[tg])
	}
	return out
}

// TestECSDeploymentsFromConfig: driver.kind ecs from a bluegreen.yaml
// pointed at the stand-in builds the ecs driver and its Listener as the
// controller's Router; the first release goes live on green; v2 with
// linear 25% steps ends with the production listener forwarding 100% to
// blue, every weight in the events in order and written once, the test
// listener on the idle slot (green); a rollback while green is warm
// writes the production listener once; v3, whose tasks stop with
// CannotPullContainerError, fails in waiting_ready naming that reason,
// and the production listener is not written.
func TestECSDeploymentsFromConfig(t *testing.T) {
	w := newECSWorld(t, ecsWorldOptions{standin: standin.Options{StaleReads: 2}})
	aws := w.aws
	w.mustSucceed(t, "v1", "green")
	before := len(aws.Writes(w.prod))
	d := w.mustSucceed(t, "v2", "blue")
	if got := w.shiftWeights(t, d); !slices.Equal(got, []int{25, 50, 75}) {
		t.Errorf("shifting events' weights %v, want 25, 50, 75", got)
	}
	if got := w.written(before, w.blueTG); !slices.Equal(got, []int{25, 50, 75, 100}) {
		t.Errorf("production listener wrote blue %v, want 25, 50, 75, 100 once each", got)
	}
	if wt := standin.Weights(aws.Listener(w.prod)); wt[w.blueTG] != 100 {
		t.Errorf("production listener forwards %v, want 100%% blue", wt)
	}
	if wt := standin.Weights(aws.Listener(w.test)); wt[w.greenTG] != 100 {
		t.Errorf("test listener forwards %v, want the idle green", wt)
	}

	// Rollback while green (v1) is still warm: one write of the production
	// listener (and one of the test listener, which follows the idle slot).
	prodBefore, testBefore := len(aws.Writes(w.prod)), len(aws.Writes(w.test))
	w.rollback(t)
	if n := len(aws.Writes(w.prod)) - prodBefore; n != 1 {
		t.Errorf("rollback while warm wrote the production listener %d times, want 1", n)
	}
	if n := len(aws.Writes(w.test)) - testBefore; n != 1 {
		t.Errorf("rollback while warm wrote the test listener %d times, want 1", n)
	}
	if wt := standin.Weights(aws.Listener(w.prod)); wt[w.greenTG] != 100 {
		t.Errorf("after rollback the production listener forwards %v, want 100%% green", wt)
	}

	const reason = "CannotPullContainerError: pull image manifest has been retried 7 time(s): " + ecsImage + "v3: not found"
	aws.FailImage(ecsImage+"v3", "TaskFailedToStart", reason, "")
	writes := len(aws.Writes(w.prod))
	d = w.run(t, "v3")
	if d.Phase != string(deploy.PhaseFailed) || !strings.Contains(d.Reason, reason) {
		t.Errorf("v3: %s (%s), want failed naming %q", d.Phase, d.Reason, reason)
	}
	evs, err := w.st.Events(t.Context(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	var phases []string
	for _, ev := range evs {
		phases = append(phases, ev.Phase)
	}
	if !slices.Contains(phases, string(deploy.PhaseWaitingReady)) || slices.Contains(phases, string(deploy.PhaseShifting)) {
		t.Errorf("v3 phases %v: want a failure from waiting_ready, before any shift", phases)
	}
	if n := len(aws.Writes(w.prod)); n != writes {
		t.Errorf("production listener written %d times by a release that never ran", n-writes)
	}
	t.Logf("IAM actions seen: %s", strings.Join(aws.Actions(), " "))
}

// TestECSRollbackWarmOneModifyListener: with no test listener, a
// rollback while the old service is warm is exactly one ModifyListener
// in all (and one AddTags: the live slot changed), no DescribeTags (the
// Listener knows the tag it wrote), and no ECS write.
func TestECSRollbackWarmOneModifyListener(t *testing.T) {
	w := newECSWorld(t, ecsWorldOptions{noTestListener: true})
	w.mustSucceed(t, "v1", "green")
	w.mustSucceed(t, "v2", "blue")
	before := w.aws.Calls()
	w.rollback(t)
	after := w.aws.Calls()
	delta := map[string]int{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			delta[k] = d
		}
	}
	t.Logf("calls of the rollback: %v", delta)
	// The whole count, as docs/ecs.md's table gives it.
	documented := map[string]int{
		"elasticloadbalancing:ModifyListener": 1, "elasticloadbalancing:AddTags": 1,
		"elasticloadbalancing:DescribeListeners": 2, "elasticloadbalancing:DescribeTargetHealth": 2,
		"ecs:DescribeServices": 1,
	}
	if !maps.Equal(delta, documented) {
		t.Errorf("the rollback's calls %v differ from docs/ecs.md's %v", delta, documented)
	}
	if n := delta["elasticloadbalancing:ModifyListener"]; n != 1 {
		t.Errorf("rollback while warm: %d ModifyListener in all, want 1", n)
	}
	if n := delta["elasticloadbalancing:AddTags"]; n != 1 {
		t.Errorf("rollback while warm: %d AddTags, want 1 (the live tag)", n)
	}
	if n := delta["elasticloadbalancing:DescribeTags"]; n != 0 {
		t.Errorf("rollback while warm: %d DescribeTags, want 0 (the tag is known)", n)
	}
	if n := delta["ecs:UpdateService"] + delta["ecs:RegisterTaskDefinition"]; n != 0 {
		t.Errorf("rollback while warm: %d ECS writes, want 0", n)
	}
	if wt := standin.Weights(w.aws.Listener(w.prod)); wt[w.greenTG] != 100 {
		t.Errorf("after rollback the production listener forwards %v, want 100%% green", wt)
	}
}

// TestECSThrottledDeployment: with 30% of the calls throttled, through
// the controller: both deployments succeed on the SDK's retries, every
// weight is written to the production listener once, in order, and the
// events carry each step once.
func TestECSThrottledDeployment(t *testing.T) {
	w := newECSWorld(t, ecsWorldOptions{standin: standin.Options{Throttle: 0.3, Seed: 15, StaleReads: 1}})
	w.timeout = 2 * time.Minute
	w.mustSucceed(t, "v1", "green")
	if got := w.written(0, w.greenTG); !slices.Equal(got, []int{100}) {
		t.Errorf("v1 wrote green %v to the production listener, want 100 once", got)
	}
	before := len(w.aws.Writes(w.prod))
	d := w.mustSucceed(t, "v2", "blue")
	if got := w.shiftWeights(t, d); !slices.Equal(got, []int{25, 50, 75}) {
		t.Errorf("shifting events' weights %v, want 25, 50, 75 once each", got)
	}
	if got := w.written(before, w.blueTG); !slices.Equal(got, []int{25, 50, 75, 100}) {
		t.Errorf("production listener wrote blue %v, want 25, 50, 75, 100 once each", got)
	}
	if got := len(w.aws.Writes(w.test)); got != 2 {
		t.Errorf("test listener written %d times, want 2 (to blue for v1, to green for v2)", got)
	}
	if w.aws.Throttled() == 0 {
		t.Error("no call was throttled")
	}
	t.Logf("%d calls throttled; applied: %v", w.aws.Throttled(), w.aws.Calls())
}

// TestECSScaleDownAndColdRollback: after scale_down_delay the old
// service goes to desired count 0; a rollback after that scales it up
// first and writes the production listener only once its target group
// has min_healthy (80% of 2: 2) healthy targets.
func TestECSScaleDownAndColdRollback(t *testing.T) {
	w := newECSWorld(t, ecsWorldOptions{scaleDownDelay: 300 * time.Millisecond})
	w.mustSucceed(t, "v1", "green")
	w.mustSucceed(t, "v2", "blue")
	deadline := time.Now().Add(time.Minute)
	for w.aws.ServiceState(w.greenSvc).Desired != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("old service %s still at desired %d a minute after scale_down_delay", w.greenSvc, w.aws.ServiceState(w.greenSvc).Desired)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := w.aws.ServiceState(w.blueSvc); got.Desired != 2 {
		t.Errorf("live service %s at desired %d, want 2", w.blueSvc, got.Desired)
	}
	mark := len(w.aws.Log())
	rb := w.rollback(t)
	if rb.Slot != "green" || rb.Version != "v1" {
		t.Errorf("rollback went to %s %s, want v1 in green", rb.Version, rb.Slot)
	}
	scaledUp, switched := -1, -1
	for i, c := range w.aws.Log()[mark:] {
		switch {
		case c.Action == "ecs:UpdateService" && c.Service == w.greenSvc && c.Desired == 2 && scaledUp < 0:
			scaledUp = i
		case c.Action == "elasticloadbalancing:ModifyListener" && c.Listener == w.prod && c.Weights[w.greenTG] > 0 && switched < 0:
			switched = i
			if c.Healthy[w.greenTG] < 2 {
				t.Errorf("the production listener moved to green with %d healthy targets there, want at least 2 (80%% of 2)", c.Healthy[w.greenTG])
			}
		}
	}
	if scaledUp < 0 || switched < 0 || scaledUp > switched {
		t.Errorf("rollback: scale-up of %s at call %d, production listener to green at call %d: want the scale-up first", w.greenSvc, scaledUp, switched)
	}
	if wt := standin.Weights(w.aws.Listener(w.prod)); wt[w.greenTG] != 100 {
		t.Errorf("after the rollback the production listener forwards %v, want 100%% green", wt)
	}
	// And blue, rolled back from, goes to 0 after its own delay.
	deadline = time.Now().Add(time.Minute)
	for w.aws.ServiceState(w.blueSvc).Desired != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s still at desired %d after the rollback's scale_down_delay", w.blueSvc, w.aws.ServiceState(w.blueSvc).Desired)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestECSCloudWatchAnalysis: with the cloudwatch provider, the analysis
// rules judge the target groups' ALB metrics (bluegreen's router sees no
// ECS traffic): v2, whose target group answers 0.5% 5xx, shifts and
// succeeds; v3, whose target group answers 20% 5xx, fails its first
// analysis window and rolls back, the production listener forwarding all
// to the live group again, with the provider's reason.
func TestECSCloudWatchAnalysis(t *testing.T) {
	w := newECSWorld(t, ecsWorldOptions{strategy: "linear 50% every 1s", analysis: `analysis:
  interval: 400ms
  min_requests: 50
  rules:
    - { metric: error_rate, max: 2% }
    - { metric: latency_p99, max: 500ms }
  providers:
    - name: alb
      timeout: 10s
      cloudwatch: { period: 1s }
`})
	// metrics gives tg a datapoint every 100ms over the next minute:
	// 100 requests each, errs of them 5xx.
	metrics := func(tg string, errs float64) {
		now := time.Now()
		var dps []standin.Datapoint
		for i := range 600 {
			dps = append(dps, standin.Datapoint{At: now.Add(time.Duration(i) * 100 * time.Millisecond), Requests: 100, Errors5xx: errs, ResponseTimeP99Seconds: 0.08})
		}
		w.aws.AddMetrics(tg, dps...)
	}
	w.mustSucceed(t, "v1", "green")
	metrics(w.greenTG, 0)
	metrics(w.blueTG, 0.5)
	d := w.mustSucceed(t, "v2", "blue")
	if got := w.shiftWeights(t, d); !slices.Equal(got, []int{50}) {
		t.Errorf("v2 shifting weights %v, want 50", got)
	}

	// v3 goes into green, whose metrics from now on say 20% 5xx.
	w.aws.ResetMetrics(w.greenTG)
	metrics(w.greenTG, 20)
	before := len(w.aws.Writes(w.prod))
	d = w.run(t, "v3")
	evs, err := w.st.Events(t.Context(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	why := ""
	for _, ev := range evs {
		if ev.Phase == string(deploy.PhaseRollingBack) {
			why = ev.Reason
		}
	}
	if d.Phase != string(deploy.PhaseRolledBack) || !strings.Contains(why, "provider alb: error_rate of green is 20%, above max 2%") {
		t.Errorf("v3: %s, rolling back because %q: want rolled back by provider alb naming green's 20%% error rate", d.Phase, why)
	}
	if wt := standin.Weights(w.aws.Listener(w.prod)); wt[w.blueTG] != 100 {
		t.Errorf("after v3 the production listener forwards %v, want 100%% blue", wt)
	}
	if got := w.written(before, w.greenTG); len(got) == 0 || got[0] != 50 || got[len(got)-1] != 0 {
		t.Errorf("v3 wrote green %v, want 50 then back to 0", got)
	}
	if !slices.Contains(w.aws.Actions(), "cloudwatch:GetMetricData") {
		t.Error("the stand-in saw no GetMetricData")
	}
}

// TestECSCrashSwitch: the fault switch is off unless set, refuses a
// value that is not a count from 1, and counts the writes it is told of.
func TestECSCrashSwitch(t *testing.T) {
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	if f, err := ecsCrashAfterWrite("", log); f != nil || err != nil {
		t.Errorf("unset: %v, %v; want off", f != nil, err)
	}
	for _, bad := range []string{"0", "-1", "two", "shifting"} {
		if _, err := ecsCrashAfterWrite(bad, log); err == nil || !strings.Contains(err.Error(), ecsCrashEnv) {
			t.Errorf("%s=%q: %v, want an error naming the variable", ecsCrashEnv, bad, err)
		}
	}
}
