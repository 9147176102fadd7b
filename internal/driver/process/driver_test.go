package process

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/capture"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// runtime is a copy of deploy.Runtime (this package must not import
// deploy); the driver must satisfy it.
type runtime interface {
	Start(ctx context.Context, s slot.Slot, version string) ([]string, error)
	Stop(ctx context.Context, s slot.Slot) error
}

var _ runtime = (*Driver)(nil)

const waitLimit = 20 * time.Second

func fastTimings() timings {
	return timings{
		poll:        20 * time.Millisecond,
		rotate:      20 * time.Millisecond,
		stopPoll:    5 * time.Millisecond,
		killWait:    10 * time.Second,
		minBackoff:  10 * time.Millisecond,
		maxBackoff:  100 * time.Millisecond,
		stableAfter: 30 * time.Second,
	}
}

// testOptions runs the test binary as a "serve" helper with extra flags.
func testOptions(t *testing.T, logs io.Writer, extra ...string) Options {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if logs == nil {
		logs = io.Discard
	}
	return Options{
		Command: append([]string{self, "--listen", "127.0.0.1:{port}", "--slot", "{slot}", "--version", "{version}"}, extra...),
		// A race-enabled binary sleeps 1s at exit unless told otherwise.
		Env:         map[string]string{helperEnv: "serve", "EXTRA": "from-config", "GORACE": "atexit_sleep_ms=0"},
		Instances:   2,
		StopTimeout: 10 * time.Second,
		LogDir:      filepath.Join(dir, "logs"),
		StateDir:    filepath.Join(dir, "state"),
		Logger:      slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// newTestDriver returns a driver with fast clocks, closed at cleanup.
func newTestDriver(t *testing.T, opts Options) *Driver {
	t.Helper()
	d, err := newDriver(opts, fastTimings())
	if err != nil {
		t.Fatalf("new driver: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := d.Close(ctx); err != nil {
			t.Errorf("close driver: %v", err)
		}
	})
	return d
}

// abandon simulates the death of bluegreen: the driver's goroutines end
// but its processes keep running and its records stay. (The Wait of each
// child goes on in the background, as an init would reap them.)
func (d *Driver) abandon() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.quitOnce.Do(func() { close(d.quit) })
	d.wg.Wait()
	if err := d.lock.Close(); err != nil { // as the kernel does for a dead process
		panic(err)
	}
}

// eventually polls cond until it holds or the wait limit passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// hello asks the helper at addr who it is, retrying until it answers.
func hello(t *testing.T, addr string) helloReply {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	var rep helloReply
	eventually(t, "an answer from "+addr, func() bool {
		resp, err := client.Get("http://" + addr + "/")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&rep) == nil
	})
	return rep
}

func groupGone(pgid int) bool {
	return errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH)
}

func pids(sts []InstanceStatus) []int {
	var out []int
	for _, st := range sts {
		out = append(out, st.PID)
	}
	return out
}

func TestStartRunsInstancesOnFreePorts(t *testing.T) {
	opts := testOptions(t, nil)
	d := newTestDriver(t, opts)

	addrs, err := d.Start(t.Context(), "blue", "v1")
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if len(addrs) != 2 || addrs[0] == addrs[1] {
		t.Fatalf("start returned %v, want two distinct addresses", addrs)
	}
	sts := d.Instances("blue")
	if len(sts) != 2 {
		t.Fatalf("instances = %+v, want 2", sts)
	}
	for i, addr := range addrs {
		rep := hello(t, addr)
		port := strings.TrimPrefix(addr, "127.0.0.1:")
		// Placeholders reached the arguments, the environment the child.
		want := helloReply{
			PID: sts[i].PID, Listen: addr, Slot: "blue", Version: "v1",
			Env: map[string]string{"PORT": port, "BLUEGREEN_SLOT": "blue", "BLUEGREEN_VERSION": "v1", "EXTRA": "from-config"},
		}
		if fmt.Sprint(rep) != fmt.Sprint(want) {
			t.Errorf("instance %d answered %+v, want %+v", i, rep, want)
		}
		st := sts[i]
		wantLog := filepath.Join(opts.LogDir, "blue", "v1", fmt.Sprintf("%d.log", i))
		if st.N != i || st.Addr != addr || st.State != StateRunning || st.Adopted || st.Restarts != 0 ||
			st.Version != "v1" || st.Log != wantLog || st.StartedAt.IsZero() {
			t.Errorf("status %d = %+v", i, st)
		}
		// Each instance leads its own process group.
		if pgid, err := syscall.Getpgid(st.PID); err != nil || pgid != st.PID {
			t.Errorf("instance %d: pgid %d (%v), want its pid %d", i, pgid, err, st.PID)
		}
		// Its output goes to its log file.
		eventually(t, "the helper's line in "+wantLog, func() bool {
			b, err := os.ReadFile(wantLog)
			return err == nil && strings.Contains(string(b), "helper listening on "+addr) &&
				strings.Contains(string(b), "--- bluegreen ")
		})
	}

	// Starting the same version again keeps the same processes.
	again, err := d.Start(t.Context(), "blue", "v1")
	if err != nil || !slices.Equal(again, addrs) {
		t.Fatalf("second start = %v, %v; want %v", again, err, addrs)
	}
	if got := pids(d.Instances("blue")); !slices.Equal(got, pids(sts)) {
		t.Errorf("second start changed the pids: %v, was %v", got, pids(sts))
	}

	// The record lists both processes.
	recs, err := loadRecords(opts.StateDir)
	if err != nil || len(recs) != 1 || len(recs[0].Instances) != 2 || recs[0].Version != "v1" {
		t.Fatalf("records = %+v, %v", recs, err)
	}
	for i, r := range recs[0].Instances {
		if r.PID != sts[i].PID || r.PGID != sts[i].PID || r.StartTime == 0 || "127.0.0.1:"+fmt.Sprint(r.Port) != addrs[i] {
			t.Errorf("record %d = %+v, status %+v", i, r, sts[i])
		}
	}
}

func TestStopKillsProcessGroups(t *testing.T) {
	opts := testOptions(t, nil, "--grandchild")
	d := newTestDriver(t, opts)
	addrs, err := d.Start(t.Context(), "green", "v1")
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	var grandchildren []int
	for _, addr := range addrs {
		grandchildren = append(grandchildren, hello(t, addr).Grandchild)
	}
	leaders := pids(d.Instances("green"))

	if err := d.Stop(t.Context(), "green"); err != nil {
		t.Fatalf("stop: %v", err)
	}
	for i, pgid := range leaders {
		if !groupGone(pgid) {
			t.Errorf("process group %d still exists after stop", pgid)
		}
		if err := syscall.Kill(grandchildren[i], 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("grandchild %d of group %d still exists: %v", grandchildren[i], pgid, err)
		}
	}
	if sts := d.Instances("green"); len(sts) != 0 {
		t.Errorf("instances after stop = %+v", sts)
	}
	if _, err := os.Stat(recordPath(opts.StateDir, "green")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("record after stop: %v, want it removed", err)
	}
	if err := d.Stop(t.Context(), "green"); err != nil {
		t.Errorf("stop of an empty slot: %v", err)
	}
	if err := d.Stop(t.Context(), "blue"); err != nil {
		t.Errorf("stop of a slot never started: %v", err)
	}
}

func TestStopKillsInstanceThatIgnoresSIGTERM(t *testing.T) {
	var logs capture.Buffer
	opts := testOptions(t, &logs, "--ignore-term")
	opts.Instances = 1
	opts.StopTimeout = 300 * time.Millisecond
	d := newTestDriver(t, opts)
	addrs, err := d.Start(t.Context(), "blue", "v1")
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	hello(t, addrs[0]) // its SIGTERM handler is installed
	st := d.Instances("blue")[0]

	if err := d.Stop(t.Context(), "blue"); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if !groupGone(st.PID) {
		t.Fatalf("process group %d still exists after stop", st.PID)
	}
	b, err := os.ReadFile(st.Log)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "got SIGTERM, ignoring it") {
		t.Errorf("instance log lacks the SIGTERM it ignored:\n%s", b)
	}
	if !strings.Contains(logs.String(), "sending SIGKILL") {
		t.Errorf("driver log lacks the SIGKILL escalation:\n%s", logs.String())
	}
}

func TestInstanceThatExitsIsRestarted(t *testing.T) {
	var logs capture.Buffer
	opts := testOptions(t, &logs)
	opts.Instances = 1
	d := newTestDriver(t, opts)
	addrs, err := d.Start(t.Context(), "blue", "v1")
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	first := hello(t, addrs[0]).PID

	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var st InstanceStatus
	eventually(t, "the instance to be restarted", func() bool {
		st = d.Instances("blue")[0]
		return st.Restarts == 1 && st.State == StateRunning && st.PID != first
	})
	if !strings.Contains(st.LastExit, "killed") {
		t.Errorf("last exit = %q, want the signal", st.LastExit)
	}
	// Same address, new process.
	if rep := hello(t, addrs[0]); rep.PID != st.PID {
		t.Errorf("%s answered from pid %d, want the restarted %d", addrs[0], rep.PID, st.PID)
	}
	recs, err := loadRecords(opts.StateDir)
	if err != nil || recs[0].Instances[0].PID != st.PID || recs[0].Instances[0].Restarts != 1 {
		t.Errorf("record after restart = %+v, %v; want pid %d, 1 restart", recs, err, st.PID)
	}
	if !strings.Contains(logs.String(), "restarting it") {
		t.Errorf("driver log lacks the restart:\n%s", logs.String())
	}

	// A stopped instance is not restarted.
	if err := d.Stop(t.Context(), "blue"); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if sts := d.Instances("blue"); len(sts) != 0 {
		t.Errorf("instances after stop = %+v", sts)
	}
	if !groupGone(st.PID) {
		t.Errorf("group %d alive after stop", st.PID)
	}
}

func TestStartOfAnotherVersionStopsTheOldOne(t *testing.T) {
	opts := testOptions(t, nil)
	d := newTestDriver(t, opts)
	if _, err := d.Start(t.Context(), "blue", "v1"); err != nil {
		t.Fatalf("start v1: %v", err)
	}
	old := pids(d.Instances("blue"))

	addrs, err := d.Start(t.Context(), "blue", "v2")
	if err != nil {
		t.Fatalf("start v2: %v", err)
	}
	for _, pgid := range old {
		if !groupGone(pgid) {
			t.Errorf("v1 group %d still exists after starting v2", pgid)
		}
	}
	for i, addr := range addrs {
		if rep := hello(t, addr); rep.Version != "v2" {
			t.Errorf("%s answered %+v, want v2", addr, rep)
		}
		st := d.Instances("blue")[i]
		if st.Version != "v2" || !strings.Contains(st.Log, filepath.Join("blue", "v2")) {
			t.Errorf("status %+v, want v2 and its log", st)
		}
	}
	recs, err := loadRecords(opts.StateDir)
	if err != nil || len(recs) != 1 || recs[0].Version != "v2" {
		t.Errorf("records = %+v, %v; want blue v2", recs, err)
	}
}

func TestCloseStopsEverySlot(t *testing.T) {
	opts := testOptions(t, nil)
	d, err := newDriver(opts, fastTimings())
	if err != nil {
		t.Fatal(err)
	}
	for _, sl := range slot.All() {
		if _, err := d.Start(t.Context(), sl, "v1"); err != nil {
			t.Fatalf("start %s: %v", sl, err)
		}
	}
	all := append(pids(d.Instances("blue")), pids(d.Instances("green"))...)

	if err := d.Close(t.Context()); err != nil {
		t.Fatalf("close: %v", err)
	}
	for _, pgid := range all {
		if !groupGone(pgid) {
			t.Errorf("group %d alive after close", pgid)
		}
	}
	if recs, err := loadRecords(opts.StateDir); err != nil || len(recs) != 0 {
		t.Errorf("records after close = %+v, %v; want none", recs, err)
	}
	if err := d.Close(t.Context()); err != nil {
		t.Errorf("second close: %v", err)
	}
	if _, err := d.Start(t.Context(), "blue", "v1"); !errors.Is(err, ErrClosed) {
		t.Errorf("start after close = %v, want ErrClosed", err)
	}
}

func TestStartFailureLeavesNothing(t *testing.T) {
	opts := testOptions(t, nil)
	opts.Command = []string{filepath.Join(t.TempDir(), "missing-binary")}
	d := newTestDriver(t, opts)
	if _, err := d.Start(t.Context(), "blue", "v1"); err == nil {
		t.Fatal("start of a missing binary: want an error")
	}
	if sts := d.Instances("blue"); len(sts) != 0 {
		t.Errorf("instances after a failed start = %+v", sts)
	}
	if recs, err := loadRecords(opts.StateDir); err != nil || len(recs) != 0 {
		t.Errorf("records after a failed start = %+v, %v", recs, err)
	}
}

func TestBadInput(t *testing.T) {
	base := testOptions(t, nil)
	for name, mutate := range map[string]func(*Options){
		"empty command":  func(o *Options) { o.Command = nil },
		"zero instances": func(o *Options) { o.Instances = 0 },
		"no state dir":   func(o *Options) { o.StateDir = "" },
		"no log dir":     func(o *Options) { o.LogDir = "" },
		"negative stop":  func(o *Options) { o.StopTimeout = -time.Second },
	} {
		o := base
		mutate(&o)
		if _, err := New(o); err == nil {
			t.Errorf("%s: New succeeded, want an error", name)
		}
	}
	d := newTestDriver(t, base)
	if _, err := New(base); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second driver on the same state directory: %v, want an in-use error", err)
	}
	for _, c := range []struct {
		slot    slot.Slot
		version string
	}{
		{"../etc", "v1"}, {"", "v1"}, {"blue", "a/b"}, {"blue", ".."}, {"blue", ""},
	} {
		if _, err := d.Start(t.Context(), c.slot, c.version); err == nil {
			t.Errorf("start(%q, %q) succeeded, want an error", c.slot, c.version)
		}
	}
	if err := d.Stop(t.Context(), "a/b"); err == nil {
		t.Error("stop of an invalid slot name succeeded")
	}
}

func TestCrashLoopIsRestartedUntilStopped(t *testing.T) {
	var logs capture.Buffer
	opts := testOptions(t, &logs)
	opts.Command = []string{"/bin/sh", "-c", "echo crashing on {port} in {slot}; exit 3"}
	opts.Instances = 1
	d := newTestDriver(t, opts)
	if _, err := d.Start(t.Context(), "blue", "v1"); err != nil {
		t.Fatalf("start: %v", err)
	}
	var st InstanceStatus
	eventually(t, "three restarts", func() bool {
		st = d.Instances("blue")[0]
		return st.Restarts >= 3
	})
	if st.LastExit != "exit status 3" {
		t.Errorf("last exit %q, want exit status 3", st.LastExit)
	}
	b, err := os.ReadFile(st.Log)
	if err != nil || !strings.Contains(string(b), "crashing on "+strings.TrimPrefix(st.Addr, "127.0.0.1:")+" in blue") {
		t.Errorf("log %q, %v; want the crash lines", b, err)
	}
	if err := d.Stop(t.Context(), "blue"); err != nil {
		t.Fatalf("stop during a crash loop: %v", err)
	}
	if sts := d.Instances("blue"); len(sts) != 0 {
		t.Fatalf("instances after stop = %+v", sts)
	}
	if n := strings.Count(logs.String(), "restarted instance"); n < 3 {
		t.Errorf("driver logged %d restarts, want at least 3", n)
	}
}

func TestStopWithCancelledContextKillsAtOnce(t *testing.T) {
	opts := testOptions(t, nil, "--ignore-term")
	opts.Instances = 1
	opts.StopTimeout = time.Hour // only the context can cut this short
	d := newTestDriver(t, opts)
	addrs, err := d.Start(t.Context(), "blue", "v1")
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	hello(t, addrs[0])
	pid := d.Instances("blue")[0].PID

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	done := make(chan error, 1)
	go func() { done <- d.Stop(ctx, "blue") }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("stop: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("stop with a cancelled context waited for the stop timeout")
	}
	if !groupGone(pid) {
		t.Errorf("group %d alive after stop", pid)
	}
}

func TestSlotsStartConcurrently(t *testing.T) {
	d := newTestDriver(t, testOptions(t, nil))
	var wg sync.WaitGroup
	got := map[slot.Slot][]string{}
	var mu sync.Mutex
	for _, sl := range slot.All() {
		wg.Go(func() {
			addrs, err := d.Start(t.Context(), sl, "v1")
			if err != nil {
				t.Errorf("start %s: %v", sl, err)
			}
			mu.Lock()
			got[sl] = addrs
			mu.Unlock()
			_ = d.Instances("blue")
		})
	}
	wg.Wait()
	all := append(slices.Clone(got["blue"]), got["green"]...)
	slices.Sort(all)
	if len(slices.Compact(all)) != 4 {
		t.Fatalf("addresses %v, want 4 distinct", got)
	}
	for sl, addrs := range got {
		for _, addr := range addrs {
			if rep := hello(t, addr); rep.Slot != string(sl) {
				t.Errorf("%s answered %+v, want slot %s", addr, rep, sl)
			}
		}
	}
}
