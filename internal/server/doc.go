// Package server assembles and runs one bluegreen server from its config:
// store, driver, router, controller, notifier and the three listeners
// (production, preview, admin). It only builds and connects: the rules
// live in the parts it connects — deployments, draining and stopping a
// slot and the start-up restore in deploy, the data plane in router,
// schema gates in schemagate.
//
// Main flow: New reads the secrets, opens the store (store.go) and builds
// the router (router.go), the driver (driver.go), synthetic traffic, the
// controller with its checks (controller.go, verifier.go) and the admin
// handler (admin.go); adapters give the controller the router and the
// meters (adapt.go, meter.go). Before the listeners bind (listen.go), the
// controller restores the world from the store (deploy.Controller.Restore)
// and the router gets back its MCP session pins (sessions.go). Run starts
// the health checks, the controller and the webhooks under one errgroup,
// serves, and on cancellation stops accepting, drains in-flight requests
// up to routing.drain_timeout, cancels what is left with a logged cause,
// stops the release's processes and closes the store. With
// migrations.database_url, a migration watch (migwatch.go) follows what
// `bluegreen migrate` records there, for bluegreen_migration_state and the
// event stream.
package server
