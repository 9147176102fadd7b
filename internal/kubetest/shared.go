package kubetest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/testshared"
)

// shared is the control plane of this test binary.
var shared = testshared.New("control plane", startShared, stopShared)

// Main runs the package's tests and then stops the shared control plane, if
// one was started. Call it from TestMain:
//
//	func TestMain(m *testing.M) { kubetest.Main(m) }
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is Main without the exit, for a TestMain with clean-up of its own: it
// runs the tests, stops the shared control plane and returns the exit code.
// When a test failed it prints the end of the control plane's logs.
func Run(m *testing.M) int { return shared.Run(m) }

// stopShared stops the shared control plane and removes its directory,
// first printing the end of its logs when a test failed.
func stopShared(e *Env, failed bool) error {
	if failed {
		fmt.Fprintf(os.Stderr, "kubetest: a test failed; the shared control plane's logs end:\n%s", e.tails())
	}
	err := e.Stop()
	if rmErr := os.RemoveAll(e.dir); rmErr != nil {
		err = errors.Join(err, fmt.Errorf("remove %s: %w", e.dir, rmErr))
	}
	return err
}

// Shared returns the test binary's control plane, started on first use
// with RBAC authorization and stopped by Main after the tests. Tests that
// share it should each work in a namespace of their own (Env.Namespace).
// Without the binaries it fails the test in CI and skips it elsewhere.
func Shared(t testing.TB) *Env {
	t.Helper()
	if _, err := findBinaries(); err != nil {
		unavailable(t, err)
	}
	began := time.Now()
	e, err := shared.Get()
	if errors.Is(err, testshared.ErrNoMain) {
		t.Fatal("kubetest: a shared control plane is only started under kubetest.Main (add func TestMain(m *testing.M) { kubetest.Main(m) }), or use kubetest.Start")
	}
	if err != nil {
		t.Fatalf("kubetest: shared control plane: %v", err)
	}
	if d := time.Since(began); d > time.Second {
		t.Logf("kubetest: shared control plane (RBAC) ready in %s; logs in %s", d.Round(time.Millisecond), filepath.Join(e.dir, "logs"))
	}
	return e
}

// startShared starts a control plane in a directory of its own, which the
// watchdog removes should the test binary die.
func startShared() (*Env, error) {
	bins, err := findBinaries()
	if err != nil {
		return nil, err
	}
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
	testshared.Unavailable(t, unavailableMsg(reason))
}

// unavailableMsg says why there is no control plane and what to do.
func unavailableMsg(reason error) string {
	return fmt.Sprintf("kubetest: no Kubernetes control plane for this test: %v (%s; set %s to use another cache)", reason, buildHint, EnvCache)
}
