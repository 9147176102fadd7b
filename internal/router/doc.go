// Package router is bluegreen's data plane: it sends every request to an
// instance of the blue or the green slot and switches between them without
// dropping a request.
//
// Main flow of a production request (Router.Production):
//
//  1. Load the route table (one atomic pointer load; SetTable swaps it).
//  2. Choose the slot: the preview header with the right secret picks the
//     idle slot (the header is always stripped); otherwise, with
//     Options.MCPSessions, an Mcp-Session-Id pinned in the session table
//     picks the slot and the instance that issued it, whatever the weights,
//     while that instance is in rotation; otherwise, during a split with
//     AffinityClientIP, a hash of the client's address under the weights
//     (affinity.go); otherwise a sticky cookie naming a slot that still
//     has weight; otherwise a weighted random pick,
//     pinned with Set-Cookie when sticky sessions are on.
//  3. Register the request on the slot's current drain epoch, read its body
//     through a clientBody (clientbody.go) under Options.MaxRequestBody (a
//     Content-Length over it is answered 413 at once), then hand it to the slot's
//     httputil.ReverseProxy. Its RoundTripper picks a healthy instance
//     round-robin, retries an idempotent request once on another instance
//     when the attempt fails before response headers, and feeds the
//     failures that are the instance's own (connection refused, reset or
//     closed before the response head, malformed response) into its
//     health.Counter (passive checks), within the slot's passive ejection
//     ceiling (ejection.go). A failure reading the client's body
//     (malformed chunking, cut short, over a limit, too slow) is the
//     client's: never retried, never a passive failure, answered
//     400/413/408/499 by the router and counted only in
//     bluegreen_client_errors_total (not on the meters below).
//  4. Record requests_total{slot,code} and request_duration_seconds{slot},
//     and count the answer on the slot's meters (requests, 5xx errors,
//     latency to the headers in a fine histogram; atomic adds, no lock):
//     all user requests, and those each Options.Filters entry selects
//     (path prefix, MCP method or tool: mcpcall.go), which Router.MeasureOf
//     reads for the analysis of a deployment. Preview requests are not
//     measured.
//
// With Options.MCPSessions, a response carrying Mcp-Session-Id pins the
// session to its slot and instance (session.go: a bounded LRU table with an
// idle TTL); a 404 answer, a DELETE answered 2xx or 404, or the TTL ends
// the pin. With Options.SessionStore, Run writes the table's changes
// behind the request path and RestoreSessions loads them at start
// (sessionstore.go). A slot that lost its traffic is drained for
// scale-down once its sessions ended or Options.SessionDrain passed
// (sessiondrain.go: SessionsDrained), and then its requests and streams
// ended or Options.DrainTimeout passed: Drained (drained.go) answers that
// without waiting, for a controller that stops the slot over several
// passes, and EndSlot ends what is left.
//
// With Options.MCPMetrics, each MCP call (Mcp-Method/Mcp-Name headers, or
// a bounded read ahead of a JSON POST: mcpcall.go) is counted in
// bluegreen_mcp_requests_total{slot,method,tool,outcome}, the outcome read
// from the answer as it streams by (mcpmetrics.go, mcperror.go).
//
// The preview handler (Router.Preview) always serves the idle slot (on
// the pinned instance for a session pinned there).
//
// Router.Synthetic is the in-process entry of analysis' synthetic requests
// (synthetic.go): they take a slot's proxy like any request, are marked to
// the instance with X-Bluegreen-Synthetic, and count only on the slot's
// synthetic meters — not in the Prometheus request metrics, not in drains.
//
// When SetTable takes all production traffic away from a slot, the slot's
// in-flight production requests and streams keep running; after
// Options.DrainTimeout those that started before the switch are cancelled
// with a cause that is logged. Regaining traffic before the deadline cancels
// the pending drain. Requests of pinned MCP sessions that start after the
// switch register on the slot's new epoch, so that deadline does not
// cancel them; the slot serves its pinned sessions until they end.
//
// Streams (stream.go) — server-sent events responses (sse.go) and
// WebSockets (websocket.go) — are never buffered; the router follows their
// event or frame boundaries as they pass. At a drain deadline, or at
// CancelAll, their epoch does not cancel them but ends them cleanly: an SSE
// stream after its current event, with a jittered retry hint and a normal
// end of the chunked body; a WebSocket with close frames 1001 to both
// peers and a close handshake, all within DefaultStreamGrace.
//
// Router.Run runs one active health check loop (package health) per
// instance; unhealthy instances leave rotation and come back after the
// healthy threshold. Passive failures alone take an instance out only
// while at most health.Options.MaxPassiveEjection of its slot's instances
// would be out (ejection.go); beyond that it stays in rotation, held,
// until active checks fail UnhealthyThreshold times in a row — a slot is
// never emptied by failed requests alone. A slot with no healthy instance
// answers 503 at once.
package router
