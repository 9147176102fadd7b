package server

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"syscall"

	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// crashEnv names the fault-injection switch used by the crash-safety tests:
// BLUEGREEN_FAULT_CRASH_AFTER=shifting makes serve kill itself with SIGKILL
// right after the first event of that phase is persisted, as a power cut
// would. Never set it in production.
const crashEnv = "BLUEGREEN_FAULT_CRASH_AFTER"

func crashAfter(phase string, log *slog.Logger) func(store.Event) {
	if phase == "" {
		return nil
	}
	log.Warn("fault injection on: serve will SIGKILL itself", "env", crashEnv, "phase", phase)
	return func(ev store.Event) {
		if ev.Phase != phase {
			return
		}
		log.Warn("fault injection: SIGKILL now", "phase", ev.Phase, "deployment_id", ev.DeploymentID)
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	}
}

// staleLeaderEnv names the fault-injection switch of the stale-leader
// test: BLUEGREEN_FAULT_STALE_LEADER=1 makes the leader skip its own
// check of the lease's expiry (the fence's local deadline, and the
// step-down when a renewal finds the lease ran out), so that a leader
// paused past its lease writes with its old fencing token and only the
// database refuses it. Never set it in production.
const staleLeaderEnv = "BLUEGREEN_FAULT_STALE_LEADER"

// trustPastExpiry reads staleLeaderEnv ("" or "0": off).
func trustPastExpiry(v string, log *slog.Logger) (bool, error) {
	if v == "" {
		return false, nil
	}
	on, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%q: want 1 (the leader trusts its lease past its expiry) or 0", staleLeaderEnv, v)
	}
	if on {
		log.Warn("fault injection on: the leader does not check its lease's expiry; only the database fences its writes", "env", staleLeaderEnv)
	}
	return on, nil
}
