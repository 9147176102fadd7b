package kubetest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// errNoMain: Shared needs a control plane but Main is not running the
// tests, so nothing would stop it.
var errNoMain = errors.New("a shared control plane is only started under kubetest.Main (add func TestMain(m *testing.M) { kubetest.Main(m) }), or use kubetest.Start")

// shared is the control plane of this test binary.
var shared struct {
	mu      sync.Mutex
	main    bool // Main is running the tests
	started bool // start was attempted
	env     *Env
	err     error
}

// Main runs the package's tests and then stops the shared control plane, if
// one was started. Call it from TestMain:
//
//	func TestMain(m *testing.M) { kubetest.Main(m) }
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is Main without the exit, for a TestMain with clean-up of its own: it
// runs the tests, stops the shared control plane and returns the exit code.
// When a test failed it prints the end of the control plane's logs.
func Run(m *testing.M) int {
	shared.mu.Lock()
	shared.main = true
	shared.mu.Unlock()

	code := m.Run()

	shared.mu.Lock()
	e := shared.env
	shared.env = nil
	shared.mu.Unlock()
	if e == nil {
		return code
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "kubetest: a test failed; the shared control plane's logs end:\n%s", e.tails())
	}
	err := e.Stop()
	if rmErr := os.RemoveAll(e.dir); rmErr != nil {
		err = errors.Join(err, fmt.Errorf("remove %s: %w", e.dir, rmErr))
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "kubetest: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Shared returns the test binary's control plane, started on first use
// with RBAC authorization and stopped by Main after the tests. Tests that
// share it should each work in a namespace of their own (Env.Namespace).
// Without the binaries it fails the test in CI and skips it elsewhere.
func Shared(t testing.TB) *Env {
	t.Helper()
	bins, err := findBinaries()
	if err != nil {
		unavailable(t, err)
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.main {
		t.Fatalf("kubetest: %v", errNoMain)
	}
	if !shared.started {
		shared.started = true
		began := time.Now()
		shared.env, shared.err = startShared(bins)
		if shared.err == nil {
			t.Logf("kubetest: shared control plane (RBAC) ready in %s; logs in %s",
				time.Since(began).Round(time.Millisecond), filepath.Join(shared.env.dir, "logs"))
		}
	}
	if shared.err != nil {
		t.Fatalf("kubetest: shared control plane: %v", shared.err)
	}
	if shared.env == nil {
		t.Fatalf("kubetest: the shared control plane was already stopped")
	}
	return shared.env
}

// startShared starts a control plane in a directory of its own, which the
// watchdog removes should the test binary die.
func startShared(bins binaries) (*Env, error) {
	dir, err := os.MkdirTemp("", "bluegreen-kubetest-")
	if err != nil {
		return nil, fmt.Errorf("create control plane directory: %w", err)
	}
	e, err := start(bins, dir, dir, Options{Authorization: RBAC})
	if err != nil {
		if rmErr := os.RemoveAll(dir); rmErr != nil {
			err = errors.Join(err, rmErr)
		}
		return nil, err
	}
	return e, nil
}

// unavailable ends a test that has no control plane binaries: a failure in
// CI, a skip elsewhere; either way with the reason.
func unavailable(t testing.TB, reason error) {
	t.Helper()
	msg := fmt.Sprintf("kubetest: no Kubernetes control plane for this test: %v (%s; set %s to use another cache)", reason, buildHint, EnvCache)
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
