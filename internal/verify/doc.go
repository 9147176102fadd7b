// Package verify runs a release's checks against a slot through a base
// URL, normally the preview route that always reaches the idle slot.
//
// The main flow: NewRunner takes the checks from the config, then Run
// takes each check in order (or only the one named), runs it with its
// timeout and retries, and returns a Report with one Result per check:
// passed or failed, how long it took and, when it failed, a reason a
// person can act on ("status 500, want 200", "json status = \"degraded\",
// want \"healthy\"", "latency 812ms over max 500ms").
//
// HTTP checks run now (http.go). MCP, browser and command checks are
// reported as failed ("not supported yet") so that nobody mistakes them
// for passing; they arrive in their own files.
package verify
