// Package verify runs a release's checks against a slot through a base
// URL, normally the preview route that always reaches the idle slot.
//
// The main flow: NewRunner takes the checks from the config, then Run
// takes each check in order (or only the one named), runs it with its
// timeout and retries against Options.BaseURL, and returns a Report with
// one Result per check: passed or failed, how long it took and, when it
// failed, a reason a person can act on ("status 500, want 200", "- tool
// get_customer removed", "uncaught exception: …; screenshot …").
//
// One file per kind: http.go (one request, assertions on status, headers,
// JSON, body, latency), mcp.go (the official SDK's client over Streamable
// HTTP: tools/list, the comparison with the live slot in diff.go,
// tools/call, resources/read), browser.go (headless Chromium through
// chromedp: a page or an MCP widget rendered with a stub window.openai,
// console errors, screenshots) and command.go (a program in its own
// process group with TEST_URL, its output's tail).
package verify
