package server

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/bluegreen-dev/bluegreen/internal/capture"
	"github.com/bluegreen-dev/bluegreen/internal/deploy"
	"github.com/bluegreen-dev/bluegreen/internal/driver/process"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// chaosChildEnv makes this test binary, started by the process driver, an
// instance that ignores SIGTERM (and leaves a grandchild in its process
// group) instead of running the tests.
const chaosChildEnv = "BLUEGREEN_CHAOS_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(chaosChildEnv) == "ignore-term" {
		os.Exit(ignoreTermChild())
	}
	os.Exit(m.Run())
}

// ignoreTermChild serves /health and / on 127.0.0.1:PORT (its last
// argument), ignoring SIGTERM, with a `sleep` of its own group beside it;
// only SIGKILL ends it.
func ignoreTermChild() int {
	signal.Ignore(syscall.SIGTERM)
	grandchild := exec.Command("sleep", "600")
	if err := grandchild.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Args[len(os.Args)-1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("serving on %s, ignoring SIGTERM; grandchild %d\n", ln.Addr(), grandchild.Process.Pid)
	err = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "pid "+strconv.Itoa(os.Getpid())+" grandchild "+strconv.Itoa(grandchild.Process.Pid))
	}))
	fmt.Fprintln(os.Stderr, err)
	return 1
}

// TestSIGTERMIgnoredOnScaleDown: the old slot's instance ignores SIGTERM
// when serve scales it down after a deployment. The process driver sends
// SIGKILL to its process group after driver.process.stop_timeout and says
// so in the log, the slot is stored stopped, nothing of the group is left
// running, and the controller goes on: the next deployment succeeds.
func TestSIGTERMIgnoredOnScaleDown(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	yaml := fmt.Sprintf(`app: shop
listen: 127.0.0.1:0
preview_listen: ""
admin_listen: 127.0.0.1:0
state: state.db
admin_token_file: admin.token
driver:
  kind: process
  process:
    command: [%q, "-test.run=^$", "{port}"]
    env: { %s: ignore-term }
    instances: 1
    stop_timeout: 1s
routing:
  preview_header: { name: "" }
  drain_timeout: 1s
health: { interval: 50ms, healthy_threshold: 1 }
checks: []
bake_time: 0s
scale_down_delay: 0s
`, self, chaosChildEnv)
	logs := &capture.Buffer{}
	s, _ := serveYAMLLog(t, dir, yaml, io.MultiWriter(logs, t.Output()))
	t.Cleanup(func() { _ = s.runtime.Close(t.Context()) }) // SIGKILLs what is left

	deployOne := func(version string) store.Deployment {
		t.Helper()
		d, err := s.ctrl.Deploy(t.Context(), version, "all-at-once")
		if err != nil {
			t.Fatal(err)
		}
		if d = waitDeployment(t, s, d.ID, func(d store.Deployment) bool { return !d.Active }); d.Phase != string(deploy.PhaseSucceeded) {
			t.Fatalf("%s: %s (%s)", version, d.Phase, d.Reason)
		}
		return d
	}
	v1 := deployOne("v1")
	insts := s.runtime.Instances(v1.Slot).([]process.InstanceStatus)
	if len(insts) != 1 || insts[0].PID == 0 {
		t.Fatalf("v1's instances: %+v", insts)
	}
	pid := insts[0].PID
	resp, err := http.Get("http://" + insts[0].Addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	var self2, grandchild int
	if _, err := fmt.Sscanf(string(body), "pid %d grandchild %d", &self2, &grandchild); err != nil || self2 != pid {
		t.Fatalf("instance answered %q, want its pid %d and its grandchild's", body, pid)
	}

	v2 := deployOne("v2")
	waitFor(t, "v1's slot stored stopped", func() bool { return slotOf(t, s, v1.Slot).State == slot.Stopped })
	var kill, killed string
	for _, l := range strings.Split(logs.String(), "\n") {
		switch {
		case strings.Contains(l, "instance still running after SIGTERM; sending SIGKILL to its process group") && strings.Contains(l, "pid="+strconv.Itoa(pid)):
			kill = l
		case strings.Contains(l, `msg="killed instance"`) && strings.Contains(l, "pid="+strconv.Itoa(pid)):
			killed = l
		}
	}
	t.Logf("escalation: %s", kill)
	if kill == "" || !strings.Contains(kill, "stop_timeout=1s") || killed == "" {
		t.Errorf("the log lacks the SIGKILL escalation of pid %d after stop_timeout 1s (escalation %q, killed %q)", pid, kill, killed)
	}
	// A zombie is not running: this container's init may never reap the
	// grandchild once its parent is gone.
	if left := runningInGroup(t, pid); len(left) > 0 {
		t.Errorf("process group %d (instance %d, grandchild %d) still runs %v after its slot stopped", pid, pid, grandchild, left)
	}
	v3 := deployOne("v3")
	if v3.Slot != v1.Slot || v2.Slot == v1.Slot {
		t.Errorf("v3 in %s, want the stopped %s", v3.Slot, v1.Slot)
	}
	for _, d := range []store.Deployment{v2, v3} {
		ph, _ := phases(t, s, d.ID)
		if got, want := strings.Join(compact(ph), " "), "pending provisioning waiting_ready verifying baking succeeded"; got != want {
			t.Errorf("%s's events %v, want %s", d.Version, ph, want)
		}
	}
	if r := routeApplied(t, s); r.Live != v3.Slot || r.Weights[v3.Slot] != 100 {
		t.Errorf("route %s %v, want all on %s", r.Live, r.Weights, v3.Slot)
	}
}

// runningInGroup lists the processes of group pgid that are not zombies.
func runningInGroup(t *testing.T, pgid int) (pids []int) {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if g, _ := strconv.Atoi(f[2]); g == pgid {
			pids = append(pids, pid)
		}
	}
	return pids
}
