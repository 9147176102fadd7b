// Package deploy is the controller: it takes a release from the idle slot
// to live through a persisted lifecycle, and survives any crash.
//
// Main flow: Restore, once at start and before the listeners open,
// rebuilds the world from the store (re-adopts the releases recorded
// running, the instances still running in rotation at once, and re-applies
// the stored route). A command (Deploy, Rollback) records a pending
// Deployment in the store and wakes the loop. Run repeats reconcile: read
// the facts (active deployment, slots, route), observe the world (router
// health and drain, the clock), do at most one side effect, persist, and
// return when to come back. Deadlines are stored, so timers continue
// across restarts; the phase is a function of stored facts only.
//
// The loop never waits for anything slow, so an abort or a rollback acts
// within one pass whatever else is going on. Check suites (verifying,
// after_promotion) and the clean end of a stopping slot's streams run
// beside the loop (beside.go, checks.go), cancelled when the facts no
// longer call for them; checks store their outcome in the deployment's
// data for the next pass. A slot stops over several passes (stop.go): its
// StoppingSince is stored, the loop asks the router whether it is drained
// (MCP sessions, requests and streams, up to routing.drain_timeout) and
// comes back after the wait it gives, then the router ends what is left
// and the runtime stops the release.
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
// runtime, the router's routes and backends, and starts work beside it. Abort and a failure before traffic
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
// for ScaleDownDelay (the slot's stored StopAt), then the loop stops them;
// MCP sessions pinned to them hold that up to routing.session_drain.
package deploy
