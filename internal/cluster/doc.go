// Package cluster lets several bluegreen serve processes share one
// PostgreSQL state store: all of them route traffic, one of them (the
// leader) runs the deployment controller.
//
// The main flow, per process (Node.Run):
//
//   - the elector campaigns for the app's controller lease; while it holds
//     it, it renews it and runs the controller (lead) with a context that
//     ends as soon as the lease is lost or runs out by the local clock. The
//     fence the controller's writes go through is dropped first, and the
//     store refuses a write whose token is not the one in force anyway
//     (store.ErrFenced), so a stale leader cannot write; a write the
//     database refuses ends the term at once (the fence reports it);
//   - the route follower applies every route the leader saves to this
//     process's router, in revision order and never going back: it hears
//     each save by LISTEN/NOTIFY and reads the stored route every sync
//     interval as a safety net, with the slots' backends;
//   - the heartbeat records this process in the instance registry with the
//     revision it applied, whether it leads and whether it is degraded
//     (could not reach the store: it keeps serving the last route it
//     knew, and catches up when the store is back).
package cluster
