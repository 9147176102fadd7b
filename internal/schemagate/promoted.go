package schemagate

import (
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/api"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// promotedAt is when the release version in slot got all production
// traffic: the first baking event of the newest deployment among ds (newest
// first) that took it there, or that deployment's end when it had no baking
// (a warm rollback). Zero when ds holds no such deployment; the bake rule
// then does not apply. events reads a deployment's events.
func promotedAt(ds []store.Deployment, sl slot.Slot, version string, events func(id int64) ([]store.Event, error)) (time.Time, error) {
	for _, d := range ds {
		if d.Slot != sl || d.Version != version {
			continue
		}
		switch api.Phase(d.Phase) {
		case api.PhaseBaking, api.PhaseSucceeded:
		default:
			continue
		}
		evs, err := events(d.ID)
		if err != nil {
			return time.Time{}, err
		}
		for _, ev := range evs {
			if api.Phase(ev.Phase) == api.PhaseBaking {
				return ev.Time, nil
			}
		}
		return d.EndedAt, nil
	}
	return time.Time{}, nil
}
