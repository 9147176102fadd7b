// Package server assembles and runs one bluegreen server from its config:
// store, driver, router, controller, notifier and the three listeners
// (production, preview, admin).
//
// Main flow: New opens the store and builds every part; Run starts the
// listeners, the health checks, the controller and the webhooks under one
// errgroup, and on cancellation stops accepting, drains in-flight requests
// up to routing.drain_timeout, cancels what is left with a logged cause,
// stops the release's processes and closes the store. With
// migrations.database_url, a migration watch (migwatch.go) follows what
// `bluegreen migrate` records there, for bluegreen_migration_state and the
// event stream.
package server
