// Package static is the driver for releases that run elsewhere: bluegreen
// only routes to them.
//
// Main flow: New takes the configured addresses of each slot; Start returns
// the slot's addresses whatever the version (the operator deployed it);
// Stop does nothing, since bluegreen does not own those backends.
package static
