package deploy

import (
	"testing"

	"github.com/bluegreen-dev/bluegreen/internal/api"
)

func TestTransitionTable(t *testing.T) {
	for _, p := range api.Phases() {
		if !p.Valid() {
			t.Errorf("%s is not valid", p)
		}
		for _, n := range next(p) {
			if !n.Valid() {
				t.Errorf("%s → %s: unknown phase", p, n)
			}
		}
		if p.Terminal() != (len(next(p)) == 0) {
			t.Errorf("%s: terminal %v but %d ways out", p, p.Terminal(), len(next(p)))
		}
		if !p.Terminal() && !reachesEnd(p, map[Phase]bool{}) {
			t.Errorf("%s cannot reach a terminal phase", p)
		}
		// Every active phase can be aborted by a person, except the
		// rollback already under way.
		if !p.Terminal() && p != PhaseRollingBack && !canMove(p, PhaseAborted) {
			t.Errorf("%s cannot be aborted", p)
		}
	}
	if Phase("bogus").Valid() || canMove(PhaseSucceeded, PhaseShifting) || canMove(PhaseVerifying, PhaseRollingBack) {
		t.Error("the table allows what it must not")
	}
	if len(api.Phases()) != 12 {
		t.Errorf("%d phases, want the 12 of the design", len(api.Phases()))
	}
}

func reachesEnd(p Phase, seen map[Phase]bool) bool {
	if p.Terminal() {
		return true
	}
	seen[p] = true
	for _, n := range next(p) {
		if !seen[n] && reachesEnd(n, seen) {
			return true
		}
	}
	return false
}
