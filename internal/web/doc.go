// Package web serves bluegreen's admin surface: the JSON API under
// /api/v1, the server-sent events stream, the dashboard and /metrics.
//
// Main flow: New wraps a Backend (the running server's controls) in an
// http.Handler; every /api/v1 route requires the bearer token (compared in
// constant time); bodies are size-limited; errors map to status codes by
// their sentinel (store.ErrActiveDeployment → 409, store.ErrNotFound → 404,
// ErrBadRequest → 400) and are returned as {"error": "..."}.
package web
