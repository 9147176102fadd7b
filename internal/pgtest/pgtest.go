package pgtest

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
)

// EnvURL names the environment variable with a server URL to use instead of
// a throwaway cluster, e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable.
// Test databases are created on that server and dropped after each test.
const EnvURL = "BLUEGREEN_TEST_DATABASE_URL"

// errNoMain: URL needs a cluster but Main is not running the tests, so
// nothing would stop it.
var errNoMain = fmt.Errorf("a throwaway cluster is only started under pgtest.Main (add func TestMain(m *testing.M) { pgtest.Main(m) }), or set %s", EnvURL)

// shared is the throwaway cluster of this test binary.
var shared struct {
	mu      sync.Mutex
	main    bool // Main is running the tests
	started bool // start was attempted
	c       *cluster
	err     error
}

// Main runs the package's tests and then stops the throwaway cluster, if one
// was started. Call it from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is Main without the exit, for a TestMain that has clean-up of its
// own: it runs the tests, stops the throwaway cluster and returns the exit
// code for os.Exit.
func Run(m *testing.M) int {
	shared.mu.Lock()
	shared.main = true
	shared.mu.Unlock()

	code := m.Run()

	shared.mu.Lock()
	c := shared.c
	shared.c = nil
	shared.mu.Unlock()
	if c != nil {
		if err := c.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// URL returns a connection URL to a new, empty database for this test; the
// database is dropped when the test ends.
func URL(t testing.TB) string {
	t.Helper()
	if server := os.Getenv(EnvURL); server != "" {
		u, err := createDatabase(t, server)
		if err != nil {
			t.Fatalf("pgtest: %s is set but unusable: %v", EnvURL, err)
		}
		return u
	}
	c, err := sharedCluster()
	if errors.Is(err, errNoMain) {
		t.Fatalf("pgtest: %v", err)
	}
	if err != nil {
		unavailable(t, err)
	}
	u, err := createDatabase(t, c.url)
	if err != nil {
		t.Fatalf("pgtest: throwaway cluster: %v", err)
	}
	return u
}

// sharedCluster starts the binary's cluster on first use and returns it,
// or the reason it could not start (remembered, not retried).
func sharedCluster() (*cluster, error) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.main {
		return nil, errNoMain
	}
	if !shared.started {
		shared.started = true
		shared.c, shared.err = startCluster()
	}
	if shared.err != nil {
		return nil, shared.err
	}
	if shared.c == nil {
		return nil, fmt.Errorf("the throwaway cluster was already stopped")
	}
	return shared.c, nil
}

// unavailable ends a test that has no PostgreSQL: a failure in CI, a skip
// elsewhere; either way with the reason.
func unavailable(t testing.TB, reason error) {
	t.Helper()
	msg := fmt.Sprintf("pgtest: no PostgreSQL for this test: %v (set %s, or install the PostgreSQL server binaries: initdb, pg_ctl)", reason, EnvURL)
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
