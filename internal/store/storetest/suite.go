package storetest

import (
	"context"
	"testing"

	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// Opener opens a store on one backing database (a file path, a PostgreSQL
// database). Every call opens the same data again; the suite closes what it
// opens, possibly more than once, so Close must be idempotent.
type Opener func(t *testing.T) store.Store

// Versioned is implemented by stores that migrate their own schema.
// SchemaVersion returns the version recorded in the database.
type Versioned interface {
	SchemaVersion(ctx context.Context) (int, error)
}

// Run runs the whole suite. newDB is called once per subtest and must return
// an Opener for a fresh, empty database that is removed when that subtest
// ends. Subtests run in parallel.
func Run(t *testing.T, newDB func(t *testing.T) Opener) {
	t.Helper()
	cases := []struct {
		name string
		run  func(t *testing.T, open Opener)
	}{
		{"RouteRoundTrip", testRouteRoundTrip},
		{"RouteRevision", testRouteRevision},
		{"SlotUpsert", testSlotUpsert},
		{"CreateDeployment", testCreateDeployment},
		{"SecondActiveDeploymentRefused", testSecondActiveRefused},
		{"Transition", testTransition},
		{"TransitionStaleRev", testTransitionStaleRev},
		{"TransitionUnknownID", testTransitionUnknownID},
		{"EndingFreesApp", testEndingFreesApp},
		{"ConcurrentTransition", testConcurrentTransition},
		{"ConcurrentCreate", testConcurrentCreate},
		{"ListDeployments", testListDeployments},
		{"EventsOldestFirst", testEventsOldestFirst},
		{"GetDeploymentNotFound", testGetDeploymentNotFound},
		{"JSONRoundTrip", testJSONRoundTrip},
		{"InvalidJSONRefused", testInvalidJSONRefused},
		{"TimesUTC", testTimesUTC},
		{"Reopen", testReopen},
		{"SchemaVersion", testSchemaVersion},
		{"MCPSessions", testMCPSessions},
		{"Audit", testAudit},
		{"AdminSessions", testAdminSessions},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, newDB(t))
		})
	}
}

// closeStore closes s and fails the test on error.
func closeStore(t *testing.T, s store.Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("close store: %v", err)
	}
}
