// Package deploy is the controller: it takes a release from the idle slot
// to live through a persisted lifecycle, and survives any crash.
//
// Main flow: a command (Deploy, Rollback) records a pending Deployment in
// the store and wakes the loop. Run first restores the world from the store
// (re-adopts the releases recorded running, re-applies the stored route),
// then repeats reconcile: read the facts (active deployment, slots, route),
// observe the world (router health, the clock), do at most one side effect,
// persist, and return when to come back. Deadlines are stored, so timers
// continue across restarts; the phase is a function of stored facts only.
//
//	pending → provisioning → waiting_ready → verifying → shifting → baking → succeeded
//	failed (before traffic moved) · rolling_back → rolled_back (after) ·
//	paused (shifting, baking) · aborted (by a person, from any active phase)
//
// The allowed transitions are one table (phase.go). Each transition is a
// conditional write (store.Transition on the revision read) with its event
// (time, phase, reason, weight, step and other numbers), persisted before
// the side effect it announces; a route is persisted before it is applied.
// A write that meets store.ErrConflict is read again and decided again.
//
// Commands from the API (Pause, Resume, Promote, Abort, Fail) only write
// the store and wake the loop; the single loop goroutine alone drives the
// runtime, the router and the route. Abort and a failure before traffic
// moved are recorded as requests in the deployment's data and carried out
// by the loop; Promote, Abort and Rollback wait for the loop to act.
//
// Analysis (analyse.go), when Options.Meter and Options.Analysis are set:
// in shifting and baking each step is judged in windows of
// Analysis.Interval from the router's per-slot counts (analysis.Evaluate).
// A step ends when its hold is over and its newest window passed; a failed
// window moves to rolling_back, an inconclusive one follows
// on_inconclusive. The window's start snapshot is in memory (a restart
// starts a new window); the newest verdict is stored in the deployment's
// data and attached to the events it causes.
//
// Special cases: the first release (nothing live) goes into the slot the
// route table calls idle, so the preview route reaches it, and, once
// healthy and verified, goes live at 100% (no old slot to shift from). A
// rollback after success is a new deployment of kind "rollback" into the
// old slot: a route swap while that slot is warm, otherwise restart, wait
// healthy, swap (no verifying, no gradual shift). Old releases stay warm
// for ScaleDownDelay (the slot's stored StopAt), then the loop stops them.
package deploy
