// Package synthetic sends analysis.synthetic's requests to the slots under
// analysis, so that an app with little traffic still gives its analysis
// enough samples.
//
// Main flow: the controller calls Generator.Target with the new and the
// live slot when a deployment starts shifting (and with nothing when it
// leaves shifting and baking); Run keeps one sender per targeted slot. A
// sender ticks Rate times a second and sends the next request of the list
// (in turn) through the router's in-process handler for its slot
// (router.Router.Synthetic): the request takes the slot's proxy like any
// other, is marked to the instance with X-Bluegreen-Synthetic: 1, and is
// counted on the slot's synthetic meters only. An MCP entry opens a
// session per slot (initialize, notifications/initialized) with raw
// JSON-RPC POSTs, sends one call per turn, and ends the session with
// DELETE when the slot stops being targeted.
//
// Bounded: at most MaxInFlight requests per slot (a tick that finds them
// all busy is skipped and counted), each within the configured timeout;
// untargeting a slot sends nothing more to it, and Run's end cancels
// everything and waits for it.
package synthetic
