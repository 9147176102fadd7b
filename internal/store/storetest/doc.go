// Package storetest is the one behaviour suite every store.Store
// implementation must pass.
//
// The main flow: an implementation's test calls Run with a function that
// makes a fresh, empty backing database and returns an Opener for it; Run
// starts one subtest per behaviour (routes, slots, deployments, revisions,
// concurrency, JSON, times, reopening, schema version), each on its own
// fresh database, and asserts what a caller can observe through the
// store.Store interface (plus Versioned for the schema version).
//
// It is imported only from _test.go files.
package storetest
