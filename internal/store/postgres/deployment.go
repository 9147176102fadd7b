package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// deploymentColumns is the column list every deployment query reads, in
// the order scanDeployment expects.
const deploymentColumns = `id, app, kind, version, slot, from_version, strategy, phase, active,
	paused, step, weight, deadline, traffic_moved, reason, data, rev, created_at, updated_at, ended_at`

// CreateDeployment inserts d and, unless it is the zero Event, first, in one
// transaction. On success d.ID, d.Rev (1), d.CreatedAt and d.UpdatedAt are
// set. If d is active and another deployment of d.App is active, it returns
// store.ErrActiveDeployment naming that deployment, and writes nothing.
func (s *Store) CreateDeployment(ctx context.Context, d *store.Deployment, first *store.Event) error {
	return s.createDeployment(ctx, d, first, nil)
}

func (s *Store) createDeployment(ctx context.Context, d *store.Deployment, first *store.Event, guard guard) error {
	op := "create deployment of " + d.App
	data, err := jsonArg("data", d.Data)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	evData, err := jsonArg("event data", eventData(first))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	at := now()
	var id, evID int64
	err = inTx(ctx, s.pool, func(tx pgx.Tx) error {
		if err := guard.check(ctx, tx); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `
INSERT INTO bluegreen_deployments (app, kind, version, slot, from_version, strategy, phase, active,
	paused, step, weight, deadline, traffic_moved, reason, data, rev, created_at, updated_at, ended_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 1, $16, $16, $17)
RETURNING id`,
			d.App, d.Kind, d.Version, d.Slot, d.FromVersion, d.Strategy, d.Phase, d.Active,
			d.Paused, d.Step, d.Weight, timeArg(d.Deadline), d.TrafficMoved, d.Reason, data,
			at, timeArg(d.EndedAt)).Scan(&id)
		if err != nil {
			return err
		}
		evID, err = insertEvent(ctx, tx, id, first, evData, at)
		return err
	})
	if isActiveViolation(err) {
		return s.activeError(ctx, op, d.App)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	d.ID, d.Rev, d.CreatedAt, d.UpdatedAt = id, 1, at, at
	if !first.IsZero() {
		first.Written(evID, id, at)
	}
	return nil
}

// Transition writes d if the stored revision is d.Rev and appends ev
// (unless it is the zero Event) in the same transaction; on success d.Rev is
// incremented and d.UpdatedAt set. App and CreatedAt never change. A stale
// d.Rev gives store.ErrConflict, an unknown d.ID store.ErrNotFound, and
// making d active while another deployment of the app is active
// store.ErrActiveDeployment; in each case nothing is written.
//
// Under READ COMMITTED a concurrent writer of the same row makes the UPDATE
// wait for it, then re-check rev against the committed row: exactly one of
// them matches.
func (s *Store) Transition(ctx context.Context, d *store.Deployment, ev *store.Event) error {
	return s.transition(ctx, d, ev, nil)
}

func (s *Store) transition(ctx context.Context, d *store.Deployment, ev *store.Event, guard guard) error {
	op := fmt.Sprintf("transition deployment %d to %s", d.ID, d.Phase)
	data, err := jsonArg("data", d.Data)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	evData, err := jsonArg("event data", eventData(ev))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	at := now()
	var evID int64
	err = inTx(ctx, s.pool, func(tx pgx.Tx) error {
		if err := guard.check(ctx, tx); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `
UPDATE bluegreen_deployments SET
	kind = $1, version = $2, slot = $3, from_version = $4, strategy = $5, phase = $6, active = $7,
	paused = $8, step = $9, weight = $10, deadline = $11, traffic_moved = $12, reason = $13, data = $14,
	rev = rev + 1, updated_at = $15, ended_at = $16
WHERE id = $17 AND rev = $18`,
			d.Kind, d.Version, d.Slot, d.FromVersion, d.Strategy, d.Phase, d.Active,
			d.Paused, d.Step, d.Weight, timeArg(d.Deadline), d.TrafficMoved, d.Reason, data,
			at, timeArg(d.EndedAt), d.ID, d.Rev)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return staleError(ctx, tx, d)
		}
		evID, err = insertEvent(ctx, tx, d.ID, ev, evData, at)
		return err
	})
	if isActiveViolation(err) {
		return s.activeError(ctx, op, d.App)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	d.Rev++
	d.UpdatedAt = at
	if !ev.IsZero() {
		ev.Written(evID, d.ID, at)
	}
	return nil
}

// staleError explains why the conditional update of d matched no row:
// store.ErrNotFound or store.ErrConflict with the stored revision.
func staleError(ctx context.Context, tx pgx.Tx, d *store.Deployment) error {
	var rev int64
	err := tx.QueryRow(ctx, `SELECT rev FROM bluegreen_deployments WHERE id = $1`, d.ID).Scan(&rev)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: stored rev is %d, not %d", store.ErrConflict, rev, d.Rev)
}

// activeError is store.ErrActiveDeployment wrapped with the ID and phase of
// app's active deployment.
func (s *Store) activeError(ctx context.Context, op, app string) error {
	active, err := s.ActiveDeployment(ctx, app)
	if err != nil {
		// It ended in the meantime, or the lookup failed: still refused.
		return fmt.Errorf("%s: %w (looking it up: %w)", op, store.ErrActiveDeployment, err)
	}
	return fmt.Errorf("%s: %w: deployment %d (phase %s)", op, store.ErrActiveDeployment, active.ID, active.Phase)
}

// GetDeployment returns deployment id, or store.ErrNotFound.
func (s *Store) GetDeployment(ctx context.Context, id int64) (store.Deployment, error) {
	row := s.pool.QueryRow(ctx, `SELECT `+deploymentColumns+` FROM bluegreen_deployments WHERE id = $1`, id)
	d, err := scanDeployment(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Deployment{}, fmt.Errorf("get deployment %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Deployment{}, fmt.Errorf("get deployment %d: %w", id, err)
	}
	return d, nil
}

// ActiveDeployment returns app's active deployment, or store.ErrNotFound.
func (s *Store) ActiveDeployment(ctx context.Context, app string) (store.Deployment, error) {
	row := s.pool.QueryRow(ctx, `SELECT `+deploymentColumns+` FROM bluegreen_deployments WHERE app = $1 AND active`, app)
	d, err := scanDeployment(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Deployment{}, fmt.Errorf("get active deployment of %s: %w", app, store.ErrNotFound)
	}
	if err != nil {
		return store.Deployment{}, fmt.Errorf("get active deployment of %s: %w", app, err)
	}
	return d, nil
}

// ListDeployments returns app's deployments newest first, at most limit of
// them; limit <= 0 means all.
func (s *Store) ListDeployments(ctx context.Context, app string, limit int) ([]store.Deployment, error) {
	var lim any // NULL: LIMIT ALL
	if limit > 0 {
		lim = limit
	}
	rows, err := s.pool.Query(ctx, `SELECT `+deploymentColumns+`
FROM bluegreen_deployments WHERE app = $1 ORDER BY id DESC LIMIT $2`, app, lim)
	if err != nil {
		return nil, fmt.Errorf("list deployments of %s: %w", app, err)
	}
	defer rows.Close()
	var ds []store.Deployment
	for rows.Next() {
		d, err := scanDeployment(rows)
		if err != nil {
			return nil, fmt.Errorf("list deployments of %s: %w", app, err)
		}
		ds = append(ds, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list deployments of %s: %w", app, err)
	}
	return ds, nil
}

// scanDeployment reads one row of deploymentColumns.
func scanDeployment(row pgx.Row) (store.Deployment, error) {
	var (
		d               store.Deployment
		deadline, ended pgtype.Timestamptz
		data            []byte
	)
	err := row.Scan(&d.ID, &d.App, &d.Kind, &d.Version, &d.Slot, &d.FromVersion, &d.Strategy,
		&d.Phase, &d.Active, &d.Paused, &d.Step, &d.Weight, &deadline, &d.TrafficMoved,
		&d.Reason, &data, &d.Rev, &d.CreatedAt, &d.UpdatedAt, &ended)
	if err != nil {
		return store.Deployment{}, err
	}
	d.Data = rawJSON(data)
	d.Deadline = fromTimestamptz(deadline)
	d.EndedAt = fromTimestamptz(ended)
	d.CreatedAt = d.CreatedAt.UTC()
	d.UpdatedAt = d.UpdatedAt.UTC()
	return d, nil
}
