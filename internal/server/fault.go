package server

import (
	"log/slog"
	"os"
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
