package server

import (
	"log/slog"
	"strings"
	"testing"
)

// TestStaleLeaderSwitch: the stale-leader fault switch is off unless set
// to a true value, and refuses a value that is not a boolean, naming
// the variable.
func TestStaleLeaderSwitch(t *testing.T) {
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	for v, want := range map[string]bool{"": false, "0": false, "false": false, "1": true, "true": true} {
		if on, err := trustPastExpiry(v, log); on != want || err != nil {
			t.Errorf("%s=%q: %v, %v; want %v", staleLeaderEnv, v, on, err, want)
		}
	}
	for _, bad := range []string{"yes", "on", "2"} {
		if _, err := trustPastExpiry(bad, log); err == nil || !strings.Contains(err.Error(), staleLeaderEnv) {
			t.Errorf("%s=%q: %v, want an error naming the variable", staleLeaderEnv, bad, err)
		}
	}
}
