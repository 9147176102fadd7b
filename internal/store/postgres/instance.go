package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// SaveInstance records in as one of app's serve processes (upsert by ID),
// stamped with the database's clock as LastSeen; StartedAt is kept from
// the first save.
func (s *Store) SaveInstance(ctx context.Context, app string, in store.Instance) error {
	counts, err := jsonArg("counts", in.Counts)
	if err != nil {
		return fmt.Errorf("save instance %s of %s: %w", in.ID, app, err)
	}
	_, err = s.pool.Exec(ctx, `
INSERT INTO bluegreen_instances (app, id, admin, production, route_rev, leader, degraded, counts, started_at, last_seen)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, clock_timestamp(), clock_timestamp())
ON CONFLICT (app, id) DO UPDATE SET admin = excluded.admin, production = excluded.production,
	route_rev = excluded.route_rev, leader = excluded.leader, degraded = excluded.degraded,
	counts = excluded.counts, last_seen = excluded.last_seen`,
		app, in.ID, in.Admin, in.Production, in.RouteRev, in.Leader, in.Degraded, counts)
	if err != nil {
		return fmt.Errorf("save instance %s of %s: %w", in.ID, app, err)
	}
	return nil
}

// Instances returns app's instances seen within the last within (all of
// them when within <= 0), by ID.
func (s *Store) Instances(ctx context.Context, app string, within time.Duration) ([]store.Instance, error) {
	q := `SELECT id, admin, production, route_rev, leader, degraded, counts, started_at, last_seen
FROM bluegreen_instances WHERE app = $1`
	args := []any{app}
	if within > 0 {
		q += ` AND last_seen > clock_timestamp() - $2 * interval '1 microsecond'`
		args = append(args, within.Microseconds())
	}
	rows, err := s.pool.Query(ctx, q+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("load instances of %s: %w", app, err)
	}
	defer rows.Close()
	var out []store.Instance
	for rows.Next() {
		var (
			in     store.Instance
			counts []byte
		)
		if err := rows.Scan(&in.ID, &in.Admin, &in.Production, &in.RouteRev, &in.Leader, &in.Degraded,
			&counts, &in.StartedAt, &in.LastSeen); err != nil {
			return nil, fmt.Errorf("load instances of %s: %w", app, err)
		}
		in.Counts = rawJSON(counts)
		in.StartedAt, in.LastSeen = in.StartedAt.UTC(), in.LastSeen.UTC()
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load instances of %s: %w", app, err)
	}
	return out, nil
}

// PruneInstances deletes app's instances not seen for longer than age.
func (s *Store) PruneInstances(ctx context.Context, app string, age time.Duration) error {
	_, err := s.pool.Exec(ctx, `
DELETE FROM bluegreen_instances WHERE app = $1 AND last_seen < clock_timestamp() - $2 * interval '1 microsecond'`,
		app, age.Microseconds())
	if err != nil {
		return fmt.Errorf("prune instances of %s: %w", app, err)
	}
	return nil
}

// ListenRoutes calls fn with the revision of every route of app saved
// (by any process) from the moment ready is called, in the order they
// commit, until ctx ends (nil) or the connection fails (the error). It
// holds one connection of its own for as long as it runs.
func (s *Store) ListenRoutes(ctx context.Context, app string, ready func(), fn func(rev int64)) error {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("listen for routes of %s: %w", app, err)
	}
	conn := pc.Hijack() // a LISTENing connection must not go back to the pool
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	if _, err := conn.Exec(ctx, "LISTEN "+RouteChannel); err != nil {
		return fmt.Errorf("listen for routes of %s: %w", app, err)
	}
	if ready != nil {
		ready()
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("listen for routes of %s: %w", app, err)
		}
		revText, name, ok := strings.Cut(n.Payload, " ")
		if !ok || name != app {
			continue
		}
		if rev, err := strconv.ParseInt(revText, 10, 64); err == nil {
			fn(rev)
		}
	}
}
