// Package store persists bluegreen's facts: the route table, the slots and
// their releases, deployments and their event logs, and the router's MCP
// session pins.
//
// The main flow: the controller reads a Deployment, acts, then calls
// Transition with the revision it read; the store writes the new deployment
// row and its event in one transaction, or returns ErrConflict when someone
// else wrote first. The database enforces the invariants (one active
// deployment per app, conditional writes) so two controllers can never both
// win.
//
// Two implementations pass the same suite (storetest): sqlite (the embedded
// default) and postgres (shared state for several routers).
package store
