// Package testshared keeps one expensive test resource — a PostgreSQL
// cluster (pgtest), a Kubernetes control plane (kubetest) — per test
// binary, for tests only: started on first use, stopped after the tests by
// Run, never started where nothing would stop it. A resource that cannot
// exist on this machine ends the test: a failure in CI (CI=true), a skip
// elsewhere, with the reason either way.
package testshared

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
)

// ErrNoMain is Get's answer when Run is not running the tests: a resource
// started then would outlive them.
var ErrNoMain = errors.New("not under the package's TestMain")

// Resource is one shared resource of type T.
type Resource[T any] struct {
	name  string
	start func() (T, error)
	stop  func(v T, failed bool) error

	mu      sync.Mutex
	main    bool // Run is running the tests
	started bool // start was attempted
	running bool // v is up
	v       T
	err     error
}

// New describes a resource: name for messages ("throwaway cluster"), how
// to start it, and how to stop it (failed: a test failed, so say more).
func New[T any](name string, start func() (T, error), stop func(v T, failed bool) error) *Resource[T] {
	return &Resource[T]{name: name, start: start, stop: stop}
}

// Run runs the tests and then stops the resource, if it was started; it
// returns the exit code for os.Exit (1 when the tests passed but stopping
// failed).
func (r *Resource[T]) Run(m *testing.M) int {
	r.mu.Lock()
	r.main = true
	r.mu.Unlock()

	code := m.Run()

	r.mu.Lock()
	v, running := r.v, r.running
	r.running = false
	r.mu.Unlock()
	if !running {
		return code
	}
	if err := r.stop(v, code != 0); err != nil {
		fmt.Fprintf(os.Stderr, "stop the shared %s: %v\n", r.name, err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Get returns the resource, started on first use, or why it cannot be had:
// ErrNoMain, the start error (remembered, not retried), or that it was
// already stopped.
func (r *Resource[T]) Get() (T, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var zero T
	if !r.main {
		return zero, ErrNoMain
	}
	if !r.started {
		r.started = true
		r.v, r.err = r.start()
		r.running = r.err == nil
	}
	if r.err != nil {
		return zero, r.err
	}
	if !r.running {
		return zero, fmt.Errorf("the shared %s was already stopped", r.name)
	}
	return r.v, nil
}

// Unavailable ends t for want of a resource this machine lacks: t.Fatal in
// CI (CI=true), t.Skip elsewhere, with msg.
func Unavailable(t testing.TB, msg string) {
	t.Helper()
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
