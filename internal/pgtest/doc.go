// Package pgtest gives tests a real, empty PostgreSQL database.
//
// The main flow: a test package's TestMain calls Main(m); each test calls
// URL(t) and gets a connection URL to a database created for that test and
// dropped in t.Cleanup. The server comes from $BLUEGREEN_TEST_DATABASE_URL
// when set; otherwise the first URL call starts one throwaway cluster for
// the whole test binary (initdb and pg_ctl in a temporary directory, a free
// port on 127.0.0.1, fsync off) and Main stops it and removes its directory
// after the tests. Running as root, the cluster runs as the postgres system
// user, since initdb refuses root.
//
// A watchdog process outlives a test binary that crashes or is killed: it
// notices its pipe from the binary close and then stops the cluster and
// removes the directory, so no postmaster is ever left behind.
//
// With no server at all, URL fails the test when CI=true and skips it
// otherwise, always saying why. A configured $BLUEGREEN_TEST_DATABASE_URL
// that does not work always fails.
//
// This package keeps one piece of package-level state, the cluster shared
// by a test binary, by design: "one cluster per test binary" is exactly that.
// It is for tests only.
package pgtest
