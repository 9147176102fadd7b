// Package sqlite is the embedded store.Store: one SQLite file, pure Go
// (modernc.org/sqlite), no server.
//
// The main flow: Open creates the file's directory, opens the file in WAL
// mode, applies the store's own schema migrations (each in a transaction,
// recorded in bluegreen_schema_version) and returns a Store. Writes go
// through a single connection and start with BEGIN IMMEDIATE, so they are
// serialised in this process and wait (busy_timeout) on other processes;
// reads use a small pool of read-only connections and never block writers.
//
// The database holds the invariants: a partial unique index allows one
// active deployment per app, and Transition updates a deployment only
// WHERE id = ? AND rev = ?, appending its event in the same transaction.
//
// synchronous=FULL: the controller persists a phase before acting on it, so
// a commit must survive a power cut, not only a crash of this process.
// Writes are a few per phase change, so the extra fsync costs nothing that
// matters.
package sqlite
