package verify

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/config"
)

func commandCheck(name string, argv ...string) config.Check {
	return config.Check{Name: name, Slot: config.SlotIdle, Timeout: config.Duration(20 * time.Second), Command: argv}
}

// TestCommandEnv: the program gets TEST_URL, BLUEGREEN_SLOT and
// BLUEGREEN_VERSION, runs in Dir, and exit 0 passes.
func TestCommandEnv(t *testing.T) {
	dir := t.TempDir()
	res := runWith(t, Options{BaseURL: "http://127.0.0.1:8081/", Slot: "green", Version: "v2", Dir: dir},
		commandCheck("env", "sh", "-c", `echo "$TEST_URL $BLUEGREEN_SLOT $BLUEGREEN_VERSION" > out.txt`))
	if !res.Passed || res.Kind != "command" {
		t.Fatalf("got %+v", res)
	}
	b, err := os.ReadFile(filepath.Join(dir, "out.txt"))
	if err != nil || string(b) != "http://127.0.0.1:8081 green v2\n" {
		t.Errorf("env seen: %q %v", b, err)
	}
}

// TestCommandFails: exit 1 fails with the status and the output's tail,
// stdout and stderr together, only the last 40 lines.
func TestCommandFails(t *testing.T) {
	res := runWith(t, Options{}, commandCheck("suite", "sh", "-c", `for i in $(seq 1 100); do echo "line $i"; done; echo "boom" >&2; exit 1`))
	if res.Passed || !strings.HasPrefix(res.Reason, "sh exit status 1; output (its end):\n") {
		t.Fatalf("got %q", res.Reason)
	}
	lines := strings.Split(strings.SplitN(res.Reason, "\n", 2)[1], "\n")
	if len(lines) != 40 || lines[0] != "line 62" || lines[39] != "boom" {
		t.Errorf("tail has %d lines, first %q last %q", len(lines), lines[0], lines[len(lines)-1])
	}
	res = runWith(t, Options{}, commandCheck("short", "sh", "-c", "echo only; exit 3"))
	if res.Reason != "sh exit status 3; output:\nonly" {
		t.Errorf("short: %q", res.Reason)
	}
	res = runWith(t, Options{}, commandCheck("missing", "/nonexistent/suite"))
	if res.Passed || !strings.HasPrefix(res.Reason, "start /nonexistent/suite: ") {
		t.Errorf("missing: %q", res.Reason)
	}
}

// TestCommandTimeoutKillsGroup: at the timeout the whole process group is
// killed, a background child included.
func TestCommandTimeoutKillsGroup(t *testing.T) {
	dir := t.TempDir()
	c := commandCheck("hang", "sh", "-c", `sleep 300 & echo $! > child.pid; echo started; wait`)
	c.Timeout = config.Duration(time.Second)
	res := runWith(t, Options{Dir: dir}, c)
	if res.Passed || res.Reason != "timed out after 1s; its process group was killed; output:\nstarted" {
		t.Fatalf("got %q", res.Reason)
	}
	b, err := os.ReadFile(filepath.Join(dir, "child.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("background child %d still alive", pid)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition with a deadline
	}
}

// alive reports whether pid runs (a zombie counts as gone).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return len(f) > 2 && f[2] != "Z"
}

// TestCommandCancelled: a cancelled run stops the program.
func TestCommandCancelled(t *testing.T) {
	r := NewRunner([]config.Check{commandCheck("c", "sleep", "300")}, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep := r.Run(ctx, Options{}, "")
	if rep.Passed || !strings.HasPrefix(rep.Results[0].Reason, "stopped (context canceled); its process group was killed") {
		t.Errorf("got %+v", rep.Results[0])
	}
}

func TestTail(t *testing.T) {
	tl := newTail(3, 20)
	for _, s := range []string{"a\nb", "c\n", "d\ne", strings.Repeat("x", 30)} {
		if _, err := tl.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	// Lines a, bc, d; the partial line e+30 x is cut to its last 20 bytes;
	// only the last 3 lines are kept.
	if got, want := tl.String(), "bc\nd\n"+strings.Repeat("x", 20); got != want {
		t.Errorf("tail %q, want %q", got, want)
	}
	if !tl.dropped {
		t.Error("dropped not set")
	}
}
