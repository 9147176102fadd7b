package schemagate

import (
	"context"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/api"
	"github.com/bluegreen-dev/bluegreen/internal/migrate"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// Facts are what serve publishes about its releases, from which the
// contract gate tells which of them are live or warm. Serve reads them from
// its controller and store; `bluegreen migrate contract` from serve's admin
// API (GET /api/v1/status, /api/v1/deployments, /api/v1/deployments/{id}).
type Facts interface {
	// Slots are the slots of the status.
	Slots(ctx context.Context) ([]api.SlotStatus, error)
	// Deployments are the app's newest deployments first, at most limit.
	Deployments(ctx context.Context, limit int) ([]store.Deployment, error)
	// Events are one deployment's events, oldest first.
	Events(ctx context.Context, id int64) ([]store.Event, error)
}

// historyLimit is how many of the newest deployments are searched for when
// a live release was promoted.
const historyLimit = 50

// Releases is the contract gate's source of the releases that are live or
// warm, read from f each time it is asked.
func Releases(f Facts) migrate.Releases { return releases{f: f} }

type releases struct{ f Facts }

var _ migrate.Releases = releases{}

func (r releases) Running(ctx context.Context) ([]migrate.Running, error) {
	slots, err := r.f.Slots(ctx)
	if err != nil {
		return nil, err
	}
	return runningReleases(slots, func(sl slot.Slot, version string) (time.Time, error) {
		ds, err := r.f.Deployments(ctx, historyLimit)
		if err != nil {
			return time.Time{}, err
		}
		return promotedAt(ds, sl, version, func(id int64) ([]store.Event, error) {
			return r.f.Events(ctx, id)
		})
	})
}

// runningReleases lists the releases of slots that are live or warm, as
// the contract gate sees them: a warm one with its scheduled scale-down, a
// live one (it has the route or any weight) with when it got all
// production traffic, from promoted. A stopped slot, or one that never ran
// a release, runs nothing.
func runningReleases(slots []api.SlotStatus, promoted func(sl slot.Slot, version string) (time.Time, error)) ([]migrate.Running, error) {
	var out []migrate.Running
	for _, sl := range slots {
		if sl.Version == "" || sl.State == slot.Stopped {
			continue
		}
		r := migrate.Running{Slot: sl.Slot, Version: sl.Version, State: migrate.SlotWarm, StopAt: sl.StopAt}
		if sl.Live || sl.Weight > 0 {
			r.State = migrate.SlotLive
			var err error
			if r.PromotedAt, err = promoted(sl.Slot, sl.Version); err != nil {
				return nil, err
			}
		}
		out = append(out, r)
	}
	return out, nil
}
