package main

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestDeployEachStrategyUnderLoad deploys v2, v3 and v4 with each strategy
// through the CLI while clients send requests: none may fail, and the
// history shows each deployment's phases and weights.
func TestDeployEachStrategyUnderLoad(t *testing.T) {
	a := newApp(t, appOptions{bake: "1s"})
	a.start()
	if out, code := a.deployWait("v1"); code != 0 {
		t.Fatalf("deploy v1: exit %d\n%s", code, out)
	}
	l := startLoadOn(t, a.prod, 8)
	cases := []struct {
		version, strategy string
		weights           []int // shifting weights in events, then 100 in baking
		shifting          bool
	}{
		{"v2", "all-at-once", nil, false},
		{"v3", "linear 50% every 1s", []int{50}, true},
		{"v4", "canary 20% for 2s", []int{20}, true},
	}
	for _, tc := range cases {
		if out, code := a.deployWait(tc.version, "--strategy", tc.strategy); code != 0 {
			t.Fatalf("deploy %s with %s: exit %d\n%s", tc.version, tc.strategy, code, out)
		}
	}
	l.check(t)
	if l.versions["v4"] == 0 || l.versions["v3"] == 0 {
		t.Errorf("load saw versions %v; want traffic on v3 and v4", l.versions)
	}

	hs := a.history()
	if len(hs) != 4 {
		t.Fatalf("history has %d deployments, want 4", len(hs))
	}
	for i, tc := range cases {
		h := hs[len(cases)-1-i] // newest first
		if h.Version != tc.version || h.Phase != "succeeded" || h.Strategy != tc.strategy {
			t.Errorf("deployment %d: %s %s %s, want %s succeeded with %s", h.ID, h.Version, h.Phase, h.Strategy, tc.version, tc.strategy)
		}
		want := []string{"pending", "provisioning", "waiting_ready", "verifying"}
		if tc.shifting {
			want = append(want, "shifting")
		}
		want = append(want, "baking", "succeeded")
		if got := phasesOf(h.Events); !slices.Equal(got, want) {
			t.Errorf("%s (%s) phases %v, want %v", tc.version, tc.strategy, got, want)
		}
		var shifted []int
		for _, ev := range h.Events {
			var data struct {
				Weight int `json:"weight"`
			}
			if err := json.Unmarshal(ev.Data, &data); err != nil {
				t.Fatalf("event data %s: %v", ev.Data, err)
			}
			if ev.Phase == "shifting" {
				shifted = append(shifted, data.Weight)
			}
			if ev.Phase == "baking" && data.Weight != 100 {
				t.Errorf("%s baking at %d%%, want 100%%", tc.version, data.Weight)
			}
		}
		if !slices.Equal(shifted, tc.weights) {
			t.Errorf("%s shifting weights %v, want %v", tc.version, shifted, tc.weights)
		}
	}
}

// TestCrashAndResume kills serve with SIGKILL right after a phase is
// persisted, starts it again, and the deployment finishes with exactly the
// instances it should have: re-adopted, not duplicated, none orphaned.
func TestCrashAndResume(t *testing.T) {
	for _, phase := range []string{"provisioning", "waiting_ready", "shifting", "baking"} {
		t.Run(phase, func(t *testing.T) {
			a := newApp(t, appOptions{strategy: "linear 50% every 1s", bake: "2s"})
			a.start()
			if out, code := a.deployWait("v1"); code != 0 {
				t.Fatalf("deploy v1: exit %d\n%s", code, out)
			}
			a.stop()
			a.start(crashEnv + "=" + phase)
			// The injected crash may come before serve answered the deploy
			// (at provisioning the race is close: the answer waits for its
			// audit entry while the loop starts the instances); the
			// deployment is persisted either way, which the history
			// below checks.
			if _, errOut, code := a.cli("deploy", "v2"); code != 0 && !strings.Contains(errOut, "EOF") && !strings.Contains(errOut, "connection reset") {
				t.Fatalf("deploy v2: exit %d: %s", code, errOut)
			}
			a.waitExit(60 * time.Second) // the fault injection SIGKILLed it
			a.start()
			waitFor(t, 60*time.Second, "the deployment to finish after the restart", func() bool {
				st := a.status()
				return st.Active == nil && st.Last != nil && st.Last.Version == "v2"
			})
			st := a.status()
			if st.Last.Phase != "succeeded" {
				t.Fatalf("after the restart the deployment ended %s: %s", st.Last.Phase, st.Last.Reason)
			}
			if st.Route.Live != st.Last.Slot || st.Route.Weights[st.Last.Slot] != 100 {
				t.Errorf("route %+v, want 100%% on %s", st.Route, st.Last.Slot)
			}
			// v1 warm (2 instances) and v2 live (2 instances), no more.
			if pids := a.shopProcesses(); len(pids) != 4 {
				t.Errorf("%d shop processes run, want 4 (2 per slot): %v", len(pids), pids)
			}
			h := a.history()[0]
			if !slices.Contains(phasesOf(h.Events), phase) {
				t.Errorf("events %v lack the phase %s the crash happened in", phasesOf(h.Events), phase)
			}
			a.stop()
			if pids := a.shopProcesses(); len(pids) != 0 {
				t.Errorf("after a normal stop %d shop processes remain: %v", len(pids), pids)
			}
		})
	}
}

// TestRollbackWarmIsOneRequest: while the old slot is warm, the first
// request after `bluegreen rollback` returns already goes to it.
func TestRollbackWarmIsOneRequest(t *testing.T) {
	a := newApp(t, appOptions{})
	a.start()
	for _, v := range []string{"v1", "v2"} {
		if out, code := a.deployWait(v); code != 0 {
			t.Fatalf("deploy %s: exit %d\n%s", v, code, out)
		}
	}
	st := a.status()
	newSlot := st.Route.Live
	oldSlot := "blue"
	if newSlot == "blue" {
		oldSlot = "green"
	}
	if got := slotOf(t, a.prod); got != string(newSlot) {
		t.Fatalf("before the rollback a request went to %s, want %s", got, newSlot)
	}
	if out, errOut, code := a.cli("rollback"); code != 0 {
		t.Fatalf("rollback: exit %d: %s%s", code, out, errOut)
	}
	if got := slotOf(t, a.prod); got != oldSlot {
		t.Fatalf("the first request after the rollback went to %s, want the warm old slot %s", got, oldSlot)
	}
	h := a.history()[0]
	if h.Kind != "rollback" || h.Phase != "succeeded" || h.Version != "v1" {
		t.Errorf("last deployment: %s %s %s, want a succeeded rollback to v1", h.Kind, h.Version, h.Phase)
	}
}

// TestRollbackAfterScaleDown: once the old release is scaled down, a
// rollback restarts it and moves traffic only when it is healthy, so no
// client request fails.
func TestRollbackAfterScaleDown(t *testing.T) {
	a := newApp(t, appOptions{scaleDownDelay: "1s"})
	a.start()
	for _, v := range []string{"v1", "v2"} {
		if out, code := a.deployWait(v); code != 0 {
			t.Fatalf("deploy %s: exit %d\n%s", v, code, out)
		}
	}
	waitFor(t, 30*time.Second, "the old slot to scale down", func() bool {
		for _, s := range a.status().Slots {
			if s.Version == "v1" && s.State == "stopped" {
				return true
			}
		}
		return false
	})
	if pids := a.shopProcesses(); len(pids) != 2 {
		t.Fatalf("after scale-down %d shop processes run, want 2", len(pids))
	}
	l := startLoadOn(t, a.prod, 4)
	if out, errOut, code := a.cli("rollback", "--wait"); code != 0 {
		t.Fatalf("rollback --wait: exit %d: %s%s", code, out, errOut)
	}
	l.check(t)
	h := a.history()[0]
	want := []string{"pending", "provisioning", "waiting_ready", "succeeded"}
	if got := phasesOf(h.Events); h.Kind != "rollback" || !slices.Equal(got, want) {
		t.Errorf("rollback %s phases %v, want %v", h.Kind, got, want)
	}
	if l.versions["v1"] == 0 {
		t.Errorf("no request reached v1 after the rollback: %v", l.versions)
	}
}

// TestConcurrentDeploys: two deploys at once, exactly one is accepted; the
// other exits 1 naming the active deployment.
func TestConcurrentDeploys(t *testing.T) {
	a := newApp(t, appOptions{strategy: "linear 50% every 2s"})
	a.start()
	if out, code := a.deployWait("v1"); code != 0 {
		t.Fatalf("deploy v1: exit %d\n%s", code, out)
	}
	type result struct {
		out  string
		code int
	}
	var wg sync.WaitGroup
	results := make([]result, 2)
	for i, v := range []string{"v2", "v3"} {
		wg.Go(func() {
			o, e, code := a.cli("deploy", v)
			results[i] = result{o + e, code}
		})
	}
	wg.Wait()
	var ok, refused int
	for _, r := range results {
		switch r.code {
		case 0:
			ok++
		case 1:
			refused++
			if !regexp.MustCompile(`deployment \d+`).MatchString(r.out) || !strings.Contains(r.out, "already active") {
				t.Errorf("refusal does not name the active deployment: %q", r.out)
			}
		default:
			t.Errorf("deploy exit %d: %s", r.code, r.out)
		}
	}
	if ok != 1 || refused != 1 {
		t.Fatalf("accepted %d, refused %d; want exactly one each: %+v", ok, refused, results)
	}
	// Later, while it shifts traffic, a deploy is still refused by naming it.
	waitFor(t, 30*time.Second, "the accepted deployment to shift", func() bool {
		st := a.status()
		return st.Active != nil && st.Active.Phase == "shifting"
	})
	o, e, code := a.cli("deploy", "v4")
	if code != 1 || !strings.Contains(o+e, "already active") || !regexp.MustCompile(`deployment \d+`).MatchString(o+e) {
		t.Errorf("deploy during shifting: exit %d %q; want 1 naming the active deployment", code, o+e)
	}
	// Input the server rejects is bad usage: exit 2.
	if _, e, code := a.cli("deploy", "v5", "--strategy", "sideways"); code != 2 {
		t.Errorf("deploy with a bad strategy: exit %d (%s), want 2", code, e)
	}
	if _, _, code := a.cli("abort"); code != 0 {
		t.Errorf("abort the accepted deployment: exit %d", code)
	}
}

// TestBadConfigExit2: serve refuses a bad config with file:line and key,
// exit 2.
func TestBadConfigExit2(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct{ yaml, want string }{
		"unknown key":  {"app: shop\nlisten: 127.0.0.1:8080\nhelth: {}\n", "bluegreen.yaml:3:1: helth"},
		"bad duration": {"app: shop\nhealth:\n  interval: 5x\n", "bluegreen.yaml:3:13: health.interval"},
		"wrong type":   {"app: shop\ndriver:\n  static:\n    blue: 127.0.0.1:1\n", "bluegreen.yaml:4:11: driver.static.blue"},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, "bluegreen.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bins.bluegreen, "serve", "-c", path)
			out, err := cmd.CombinedOutput()
			if code := exitCode(err); code != 2 {
				t.Fatalf("exit %d, want 2\n%s", code, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Fatalf("message lacks %q:\n%s", tc.want, out)
			}
		})
	}
}

func slotOf(t *testing.T, addr string) string {
	t.Helper()
	res, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET /: %s", res.Status)
	}
	return res.Header.Get("X-Bluegreen-Slot")
}

// TestAfterPromotionCheckRollsBack: a check marked after_promotion runs
// once the new release has all traffic; v2 passes it and stays, v3 fails
// it and is rolled back, after which clients see v2 again.
func TestAfterPromotionCheckRollsBack(t *testing.T) {
	a := newApp(t, appOptions{bake: "2s", extra: `  - name: live-release
    slot: live
    after_promotion: true
    http: { path: /, expect: { status: 200, body_contains: "shop v2" } }
`})
	a.start()
	for _, v := range []string{"v1", "v2"} {
		if out, code := a.deployWait(v); code != 0 {
			t.Fatalf("deploy %s: exit %d\n%s", v, code, out)
		}
	}
	out, code := a.deployWait("v3")
	if code != 1 {
		t.Fatalf("deploy v3: exit %d, want 1 (rolled back)\n%s", code, out)
	}
	h := a.history()[0]
	if h.Phase != "rolled_back" {
		t.Fatalf("v3 ended %s, want rolled_back", h.Phase)
	}
	var cause string
	for _, ev := range h.Events {
		if ev.Phase == "rolling_back" {
			cause = ev.Reason
		}
	}
	if !strings.Contains(cause, "after-promotion checks failed") {
		t.Errorf("rolling_back reason %q, want the after-promotion failure", cause)
	}
	l := startLoadOn(t, a.prod, 2)
	waitFor(t, 10*time.Second, "some answers", func() bool { return l.ok.Load() >= 20 })
	l.check(t)
	if len(l.versions) != 1 || l.versions["v2"] == 0 {
		t.Errorf("after the rollback clients saw %v, want only v2", l.versions)
	}
}
