// Package analysis turns measurements of two slots into a verdict.
//
// Main flow: the router counts requests, errors and a latency histogram per
// slot, cumulatively (Counts). The controller takes a snapshot at the start
// of each analysis window and one at its end; Sub gives the window. Evaluate
// compares the new slot's window with the live slot's under the configured
// rules and returns a Verdict — pass, fail or inconclusive — that carries
// every number it used (both slots' values, thresholds, sample sizes, the
// rule that decided) so status, events and webhooks can explain it. Too few
// requests on the new slot is inconclusive, never a pass.
//
// The router counts users' requests and synthetic ones (analysis.synthetic)
// apart (Measurement), in all and per rule filter (config.Filter). A rule
// with a filter is judged on the requests it selects. Synthetic requests
// are judged as their own population, slot against slot, never mixed with
// users': a rule fails if it fails on either and passes if it passed on
// either (Verdict.Synthetic holds their numbers).
//
// External providers (package provider: Prometheus queries, webhooks) are
// asked about the same window; Combine merges their answers into the
// verdict, fail over inconclusive over pass.
//
// MannWhitney compares two latency distributions without assuming their
// shape; it works on histograms (tied buckets) as well as on raw samples.
//
// Everything here is a pure function of its inputs.
package analysis
