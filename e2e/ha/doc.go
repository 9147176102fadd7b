// Package hae2e holds the end-to-end tests of high availability: several
// real `bluegreen serve` processes, built from this repository, on
// loopback, sharing one real PostgreSQL database.
//
// The main flow of each test: TestMain builds the binary (with -race) and
// runs the tests under pgtest (a throwaway PostgreSQL cluster, or the one
// PostgreSQL restart test's own); a test starts the release's backends
// (v1 in blue, v2 in green, plain HTTP servers in the test process behind
// the static driver), writes one config per serve with `bluegreen init`'s
// secrets shared, starts the serves, sends bounded load through their
// production listeners, drives a deployment through the CLI (sent to any
// instance: a follower forwards it to the leader), kills or pauses
// processes with signals, and reads the results back through the admin
// API and the database.
//
// It has no code outside its tests.
package hae2e
