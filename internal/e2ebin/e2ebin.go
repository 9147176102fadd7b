// Package e2ebin builds the bluegreen binary for the end-to-end test
// packages (e2e/…) and runs its commands, for tests only.
package e2ebin

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Main is a TestMain: it builds cmd/bluegreen with -race into a temporary
// directory, sets *bin to it, runs the tests through run (the package's
// shared-resource runner, such as pgtest.Run or kubetest.Run), removes
// the directory and exits with the tests' code.
func Main(m *testing.M, bin *string, run func(*testing.M) int) {
	dir, err := os.MkdirTemp("", "bluegreen-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*bin = filepath.Join(dir, "bluegreen")
	cmd := exec.Command("go", "build", "-race", "-o", *bin, "github.com/bluegreen-dev/bluegreen/cmd/bluegreen")
	if msg, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build bluegreen: %v\n%s", err, msg)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := run(m)
	if err := os.RemoveAll(dir); err != nil {
		fmt.Fprintf(os.Stderr, "remove %s: %v\n", dir, err)
	}
	os.Exit(code)
}

// CLI runs `bin args... -c cfg` in dir and returns what it printed and its
// exit code; err is set only when it could not run at all.
func CLI(bin, dir, cfg string, args ...string) (stdout, stderr string, code int, err error) {
	cmd := exec.Command(bin, append(args, "-c", cfg)...)
	cmd.Dir = dir
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return "", "", 0, err
		}
		return o.String(), e.String(), ee.ExitCode(), nil
	}
	return o.String(), e.String(), 0, nil
}

// WaitFor polls cond every 50ms until it holds, failing the test after
// within.
func WaitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// FreePorts returns n distinct free loopback ports, all held open until it
// returns so that none is handed out twice.
func FreePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = l.Close() }()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// StopServe sends SIGTERM to a serve process and waits on done (its Wait's
// result) for a graceful exit, exit 0. After a minute it sends SIGQUIT, so
// that the Go runtime prints every goroutine to serve's log, then SIGKILL.
func StopServe(t testing.TB, p *os.Process, done <-chan error) {
	t.Helper()
	_ = p.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve did not exit 0 after SIGTERM: %v", err)
		}
		return
	case <-time.After(time.Minute):
	}
	_ = p.Signal(syscall.SIGQUIT)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = p.Kill()
		<-done
	}
	t.Errorf("serve did not stop within 1m of SIGTERM (its goroutines are in its log)")
}
