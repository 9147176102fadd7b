package process

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/bluegreen-dev/bluegreen/internal/capture"
)

func TestNewDriverReadoptsLiveInstances(t *testing.T) {
	opts := testOptions(t, nil)
	a, err := newDriver(opts, fastTimings())
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := a.Start(t.Context(), "blue", "v1")
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	before := pids(a.Instances("blue"))
	a.abandon() // bluegreen dies; its instances do not

	b := newTestDriver(t, opts)
	sts := b.Instances("blue")
	if got := pids(sts); !slices.Equal(got, before) {
		t.Fatalf("re-adopted pids %v, want %v", got, before)
	}
	for _, st := range sts {
		if !st.Adopted || st.State != StateRunning {
			t.Errorf("re-adopted status %+v, want adopted and running", st)
		}
	}
	got, err := b.Start(t.Context(), "blue", "v1")
	if err != nil || !slices.Equal(got, addrs) {
		t.Fatalf("start after re-adoption = %v, %v; want the same %v", got, err, addrs)
	}
	if now := pids(b.Instances("blue")); !slices.Equal(now, before) {
		t.Fatalf("start after re-adoption started new processes: %v, was %v", now, before)
	}
	for i, addr := range addrs {
		if rep := hello(t, addr); rep.PID != before[i] {
			t.Errorf("%s answered from pid %d, want %d", addr, rep.PID, before[i])
		}
	}

	// An adopted instance that dies is noticed by polling and restarted.
	if err := syscall.Kill(before[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var st InstanceStatus
	eventually(t, "the adopted instance to be restarted", func() bool {
		st = b.Instances("blue")[0]
		return st.Restarts == 1 && st.State == StateRunning && st.PID != before[0]
	})
	if st.Adopted {
		t.Errorf("restarted instance is still marked adopted: %+v", st)
	}
	if rep := hello(t, addrs[0]); rep.PID != st.PID {
		t.Errorf("%s answered from pid %d, want the restarted %d", addrs[0], rep.PID, st.PID)
	}

	all := append(before, st.PID)
	if err := b.Close(t.Context()); err != nil {
		t.Fatalf("close: %v", err)
	}
	for _, pgid := range all {
		// The adopted zombies are reaped by a's leftover Wait or by b.
		eventually(t, "group to be gone", func() bool { return groupGone(pgid) })
	}
}

func TestStartRestartsInstancesGoneAtAdoption(t *testing.T) {
	var logs capture.Buffer
	opts := testOptions(t, &logs)
	a, err := newDriver(opts, fastTimings())
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := a.Start(t.Context(), "blue", "v1")
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	before := pids(a.Instances("blue"))
	a.abandon()
	for _, pid := range before { // they die while bluegreen is down
		if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the killed group to be gone", func() bool { return groupGone(pid) })
	}

	b := newTestDriver(t, opts)
	for _, st := range b.Instances("blue") {
		if st.State != StateExited || st.PID != 0 || st.LastExit == "" {
			t.Errorf("instance gone at adoption reported as %+v", st)
		}
	}
	if !strings.Contains(logs.String(), "gone at adoption") {
		t.Errorf("driver log does not report the dead instances:\n%s", logs.String())
	}

	got, err := b.Start(t.Context(), "blue", "v1")
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if !slices.Equal(got, addrs) {
		t.Errorf("restarted on %v, want the recorded ports %v", got, addrs)
	}
	for i, st := range b.Instances("blue") {
		if st.State != StateRunning || st.Restarts != 1 || st.Adopted || st.PID == before[i] {
			t.Errorf("instance %d after start = %+v", i, st)
		}
		if rep := hello(t, got[i]); rep.PID != st.PID {
			t.Errorf("%s answered from pid %d, want %d", got[i], rep.PID, st.PID)
		}
	}
}

// TestInstancesSurviveParentSIGKILL kills a real parent process that ran
// the driver: its instances keep serving, and a new driver re-adopts and
// finally stops them.
func TestInstancesSurviveParentSIGKILL(t *testing.T) {
	// Become the subreaper of the orphans, as an init would, so that they
	// can be reaped (by the new driver) once stopped.
	const prSetChildSubreaper = 36
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		t.Fatalf("prctl(PR_SET_CHILD_SUBREAPER): %v", errno)
	}
	t.Cleanup(func() { syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 0, 0) })

	opts := testOptions(t, nil)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	parent := exec.Command(self, opts.StateDir, opts.LogDir)
	parent.Env = append(os.Environ(), helperEnv+"=parent")
	parent.Stderr = os.Stderr
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	var rep parentReport
	line, err := bufio.NewReader(out).ReadBytes('\n')
	if err != nil || json.Unmarshal(line, &rep) != nil || len(rep.PIDs) != 2 {
		_ = parent.Process.Kill()
		_ = parent.Wait()
		t.Fatalf("parent report %q: %v", line, err)
	}
	t.Cleanup(func() { // in case the test fails before the new driver owns them
		for _, pid := range rep.PIDs {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	})

	if err := parent.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := parent.Wait(); err == nil {
		t.Fatal("parent exited cleanly, want killed")
	}
	for i, addr := range rep.Addrs {
		if got := hello(t, addr); got.PID != rep.PIDs[i] {
			t.Fatalf("%s answered from pid %d after the parent died, want %d", addr, got.PID, rep.PIDs[i])
		}
	}

	b := newTestDriver(t, opts)
	got, err := b.Start(t.Context(), "blue", "v1")
	if err != nil || !slices.Equal(got, rep.Addrs) {
		t.Fatalf("start after re-adoption = %v, %v; want %v", got, err, rep.Addrs)
	}
	if now := pids(b.Instances("blue")); !slices.Equal(now, rep.PIDs) {
		t.Fatalf("pids after re-adoption %v, want %v", now, rep.PIDs)
	}
	if err := b.Close(t.Context()); err != nil {
		t.Fatalf("close: %v", err)
	}
	for _, pgid := range rep.PIDs {
		if !groupGone(pgid) {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pgid))
			t.Errorf("group %d alive after close: %s", pgid, b)
		}
	}
}

func TestStartAfterReadoptionAppliesNewInstanceCount(t *testing.T) {
	opts := testOptions(t, nil)
	a, err := newDriver(opts, fastTimings())
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := a.Start(t.Context(), "blue", "v1")
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	before := pids(a.Instances("blue"))
	a.abandon()

	opts.Instances = 1 // the config changed while bluegreen was down
	b := newTestDriver(t, opts)
	got, err := b.Start(t.Context(), "blue", "v1")
	if err != nil || !slices.Equal(got, addrs[:1]) {
		t.Fatalf("start = %v, %v; want %v", got, err, addrs[:1])
	}
	eventually(t, "the extra instance's group to be gone", func() bool { return groupGone(before[1]) })
	if now := pids(b.Instances("blue")); !slices.Equal(now, before[:1]) {
		t.Errorf("pids %v, want the first one kept: %v", now, before[:1])
	}
}
