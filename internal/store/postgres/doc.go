// Package postgres is the shared store.Store: several bluegreen processes
// (routers, controllers) keep their state in one PostgreSQL database.
//
// The main flow: Open connects a pgx pool, applies the store's own schema
// migrations and returns a Store. Each migration runs in its own
// transaction that first takes a transaction-scoped advisory lock and
// re-reads the version, so processes starting at the same moment apply each
// migration exactly once; a database migrated by a newer bluegreen is
// refused with a clear error.
//
// The tables share the user's database safely: every name starts with
// bluegreen_ (bluegreen_schema_version, bluegreen_routes, bluegreen_slots,
// bluegreen_deployments, bluegreen_events, bluegreen_mcp_sessions) and lives in the connection's
// current schema (search_path), so a dedicated schema is one URL option
// away (options=-csearch_path%3Dbluegreen).
//
// The database holds the invariants: a partial unique index allows one
// active deployment per app (its violation, SQLSTATE 23505, becomes
// store.ErrActiveDeployment) and Transition updates a deployment only
// WHERE id = $1 AND rev = $2, appending its event in the same transaction.
package postgres
