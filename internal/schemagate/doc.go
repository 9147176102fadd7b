// Package schemagate decides which releases may run against which schema,
// and when a contract is allowed. It joins what each release requires
// (releases.<version>.requires), where each migration stands in the app's
// database (internal/migrate) and what the slots run (the slots of the
// admin API's status, internal/api).
//
// The main flow, in the order a migration meets it:
//
//  1. Deploy: Wrap puts the schema gate in front of the checks of the
//     verifying phase. A release whose required migrations are not
//     expanded, or whose validate.sql still finds rows, is refused before
//     any user traffic reaches it.
//  2. Contract: Gate is the contract gate's rules (migrate.Gate) from the
//     config; Releases tells it which releases are live or warm, from the
//     Facts serve publishes: the slots of its status, and the deployment
//     history for when each live release got all traffic (bake_time).
//     Serve reads the facts from its controller and store, `bluegreen
//     migrate contract` from serve's admin API; both apply the same gate.
//  3. Dashboard: Source answers GET /api/v1/migrations: each migration's
//     phase and, for an expanded one, whether its contract would be
//     allowed now and why not (View).
package schemagate
