// Package health decides whether a backend instance is fit to receive
// traffic.
//
// Main flow: Loop probes one instance right away and then every
// Options.Interval (GET http://addr+Options.Path, each bounded by
// Options.Timeout; a 2xx or 3xx answer is a success) and reports every
// result. The caller feeds those results, and any passive observations of
// its own (proxy errors, successful responses), into a Counter: a small
// state machine that turns an instance unhealthy after UnhealthyThreshold
// consecutive failures and healthy again after HealthyThreshold consecutive
// successes. Options.PassiveEjectionLimit bounds what passive observations
// alone may do: how many of a pool's instances may be out of rotation for
// them to take one more out (Options.MaxPassiveEjection).
//
// The package knows nothing about routing; the router owns one Counter per
// instance and runs one Loop per instance.
package health
