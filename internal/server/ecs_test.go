package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/e2e/ecs/standin"
	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/deploy"
	ecsdriver "github.com/bluegreen-dev/bluegreen/internal/driver/ecs"
	"github.com/bluegreen-dev/bluegreen/internal/store"
	"github.com/bluegreen-dev/bluegreen/internal/store/sqlite"
)

const ecsImage = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop:"

// TestECSDeploymentsFromConfig: driver.kind ecs from a bluegreen.yaml
// pointed at the stand-in builds the ecs driver and its Listener as the
// controller's Router; the first release goes live on green; v2 with
// linear 25% steps ends with the production listener forwarding 100% to
// blue, every weight in the events in order and written once, the test
// listener on the idle slot (green); v3, whose tasks stop with
// CannotPullContainerError, fails in waiting_ready naming that reason,
// and the production listener is not written.
func TestECSDeploymentsFromConfig(t *testing.T) {
	aws := standin.New(standin.Options{StaleReads: 2})
	t.Cleanup(aws.Close)
	td := aws.AddTaskDefinition("shop", "web", ecsImage+"v0")
	blueTG, greenTG := aws.AddTargetGroup("shop-blue"), aws.AddTargetGroup("shop-green")
	aws.AddService("prod", "shop-blue", td, 0, blueTG, "web")
	aws.AddService("prod", "shop-green", td, 0, greenTG, "web")
	prod, test := aws.AddListener(80, blueTG, 3600), aws.AddListener(8080, greenTG, 0)
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
    listener: %s
    test_listener: %s
    endpoint: %s
strategy: linear 25%% every 200ms
`, ecsImage, blueTG, greenTG, prod, test, aws.URL())
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
	lis := ecsdriver.NewListener(e.Driver)
	ctrl, err := deploy.New(deploy.Options{
		App: "shop", Store: st, Runtime: e, Router: lis,
		Strategy: cfg.Strategy.String(), ScaleDownDelay: time.Hour,
		ReadyTimeout: time.Minute, PollInterval: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := ctrl.Restore(ctx); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ctrl.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	// ended waits until deployment id has ended and its last route is
	// applied: the controller persists the transition before it applies
	// the route, so the listeners follow a moment after the phase.
	ended := func(id int64) store.Deployment {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			got, err := st.GetDeployment(ctx, id)
			if err == nil && !got.Active {
				want := got.Slot
				if got.Phase != string(deploy.PhaseSucceeded) {
					want = got.Slot.Other()
				}
				if live, _ := lis.Route(); live == want {
					return got
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("deployment %d did not end with its route applied: %s (%s)", id, got.Phase, got.Reason)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	run := func(version string) store.Deployment {
		t.Helper()
		d, err := ctrl.Deploy(ctx, version, "")
		if err != nil {
			t.Fatalf("deploy %s: %v", version, err)
		}
		return ended(d.ID)
	}
	if d := run("v1"); d.Phase != string(deploy.PhaseSucceeded) || d.Slot != "green" {
		t.Fatalf("v1: %s in %s (%s), want succeeded in green", d.Phase, d.Slot, d.Reason)
	}
	before := len(aws.Writes(prod))
	d := run("v2")
	if d.Phase != string(deploy.PhaseSucceeded) || d.Slot != "blue" {
		t.Fatalf("v2: %s in %s (%s), want succeeded in blue", d.Phase, d.Slot, d.Reason)
	}
	evs, err := st.Events(ctx, d.ID)
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
	if !slices.Equal(weights, []int{25, 50, 75}) {
		t.Errorf("shifting events' weights %v, want 25, 50, 75", weights)
	}
	var written []int
	for _, acts := range aws.Writes(prod)[before:] {
		written = append(written, standin.Weights(acts)[blueTG])
	}
	if !slices.Equal(written, []int{25, 50, 75, 100}) {
		t.Errorf("production listener wrote blue %v, want 25, 50, 75, 100 once each", written)
	}
	if w := standin.Weights(aws.Listener(prod)); w[blueTG] != 100 {
		t.Errorf("production listener forwards %v, want 100%% blue", w)
	}
	if w := standin.Weights(aws.Listener(test)); w[greenTG] != 100 {
		t.Errorf("test listener forwards %v, want the idle green", w)
	}

	// Rollback while green (v1) is still warm: one write of the production listener.
	writesBefore := len(aws.Writes(prod))
	rb, err := ctrl.Rollback(ctx)
	if err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if got := ended(rb.ID); got.Phase != string(deploy.PhaseSucceeded) {
		t.Fatalf("rollback: %s (%s)", got.Phase, got.Reason)
	}
	if n := len(aws.Writes(prod)) - writesBefore; n != 1 {
		t.Errorf("rollback while warm wrote the production listener %d times, want 1", n)
	}
	if w := standin.Weights(aws.Listener(prod)); w[greenTG] != 100 {
		t.Errorf("after rollback the production listener forwards %v, want 100%% green", w)
	}

	const reason = "CannotPullContainerError: pull image manifest has been retried 7 time(s): " + ecsImage + "v3: not found"
	aws.FailImage(ecsImage+"v3", "TaskFailedToStart", reason, "")
	writes := len(aws.Writes(prod))
	d = run("v3")
	if d.Phase != string(deploy.PhaseFailed) || !strings.Contains(d.Reason, reason) {
		t.Errorf("v3: %s (%s), want failed naming %q", d.Phase, d.Reason, reason)
	}
	evs, err = st.Events(ctx, d.ID)
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
	if n := len(aws.Writes(prod)); n != writes {
		t.Errorf("production listener written %d times by a release that never ran", n-writes)
	}
	t.Logf("IAM actions seen: %s", strings.Join(aws.Actions(), " "))
}
