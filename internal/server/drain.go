package server

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/deploy"
	"github.com/bluegreen-dev/bluegreen/internal/router"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// drainingRuntime stops a slot's release only after the router has drained
// it: the MCP sessions still pinned to it are released first, then requests
// and streams still in flight on the slot (it no longer gets new
// production traffic when the controller stops it) may finish, up to
// routing.drain_timeout. What is still running then is ended by the router
// (streams cleanly), and the driver stops the processes, which get SIGTERM
// and their own stop_timeout.
type drainingRuntime struct {
	runtime
	router  *router.Router
	timeout time.Duration
	log     *slog.Logger
}

var _ deploy.Runtime = drainingRuntime{}

// drainPoll is how often Stop looks at the slot's in-flight count.
const drainPoll = 50 * time.Millisecond

func (d drainingRuntime) Stop(ctx context.Context, sl slot.Slot) error {
	// The controller stops a slot once its MCP sessions are drained
	// (routerAdapter.Drained); those still pinned go elsewhere from now on
	// rather than to instances about to stop.
	d.router.EndSessions(router.Slot(sl))
	deadline := time.Now().Add(d.timeout)
	t := time.NewTicker(drainPoll)
	defer t.Stop()
	for {
		n := d.router.Status().Slots[router.Slot(sl)].Inflight
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			d.log.Warn("stopping slot with requests still in flight: drain_timeout reached", "slot", sl, "inflight", n)
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	// What is left (long requests, streams of sessions opened before the
	// switch) ends now, streams cleanly, before the processes get SIGTERM.
	d.router.EndSlot(router.Slot(sl), fmt.Errorf("slot %s is being stopped", sl))
	return d.runtime.Stop(ctx, sl)
}
