package pgtest

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/bluegreen-dev/bluegreen/internal/testshared"
)

// EnvURL names the environment variable with a server URL to use instead of
// a throwaway cluster, e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable.
// Test databases are created on that server and dropped after each test.
const EnvURL = "BLUEGREEN_TEST_DATABASE_URL"

// shared is the throwaway cluster of this test binary.
var shared = testshared.New("throwaway cluster", startCluster, func(c *cluster, _ bool) error { return c.stop() })

// Main runs the package's tests and then stops the throwaway cluster, if one
// was started. Call it from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is Main without the exit, for a TestMain that has clean-up of its
// own: it runs the tests, stops the throwaway cluster and returns the exit
// code for os.Exit.
func Run(m *testing.M) int { return shared.Run(m) }

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
	c, err := shared.Get()
	if errors.Is(err, testshared.ErrNoMain) {
		t.Fatalf("pgtest: a throwaway cluster is only started under pgtest.Main (add func TestMain(m *testing.M) { pgtest.Main(m) }), or set %s", EnvURL)
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

// unavailable ends a test that has no PostgreSQL: a failure in CI, a skip
// elsewhere; either way with the reason.
func unavailable(t testing.TB, reason error) {
	t.Helper()
	testshared.Unavailable(t, unavailableMsg(reason))
}

// unavailableMsg says why there is no PostgreSQL and what to do.
func unavailableMsg(reason error) string {
	return fmt.Sprintf("pgtest: no PostgreSQL for this test: %v (set %s, or install the PostgreSQL server binaries: initdb, pg_ctl)", reason, EnvURL)
}
