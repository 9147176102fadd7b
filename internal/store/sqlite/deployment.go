package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

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
func (s *Store) CreateDeployment(ctx context.Context, d *store.Deployment, first *store.Event) (err error) {
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

	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: begin: %w", op, err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, rollback(tx))
		}
	}()
	res, err := tx.ExecContext(ctx, `
INSERT INTO bluegreen_deployments (`+deploymentColumns+`)
VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)`,
		d.App, d.Kind, d.Version, d.Slot, d.FromVersion, d.Strategy, d.Phase, d.Active,
		d.Paused, d.Step, d.Weight, timeArg(d.Deadline), d.TrafficMoved, d.Reason, data,
		formatTime(at), formatTime(at), timeArg(d.EndedAt))
	if isActiveViolation(err) {
		if rerr := rollback(tx); rerr != nil {
			return fmt.Errorf("%s: %w", op, rerr)
		}
		return s.activeError(ctx, op, d.App)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("%s: read new id: %w", op, err)
	}
	evID, err := insertEvent(ctx, tx, id, first, evData, at)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: commit: %w", op, s.ioError(err))
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
func (s *Store) Transition(ctx context.Context, d *store.Deployment, ev *store.Event) (err error) {
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

	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: begin: %w", op, err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, rollback(tx))
		}
	}()
	res, err := tx.ExecContext(ctx, `
UPDATE bluegreen_deployments SET
	kind = ?, version = ?, slot = ?, from_version = ?, strategy = ?, phase = ?, active = ?,
	paused = ?, step = ?, weight = ?, deadline = ?, traffic_moved = ?, reason = ?, data = ?,
	rev = rev + 1, updated_at = ?, ended_at = ?
WHERE id = ? AND rev = ?`,
		d.Kind, d.Version, d.Slot, d.FromVersion, d.Strategy, d.Phase, d.Active,
		d.Paused, d.Step, d.Weight, timeArg(d.Deadline), d.TrafficMoved, d.Reason, data,
		formatTime(at), timeArg(d.EndedAt), d.ID, d.Rev)
	if isActiveViolation(err) {
		if rerr := rollback(tx); rerr != nil {
			return fmt.Errorf("%s: %w", op, rerr)
		}
		return s.activeError(ctx, op, d.App)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", op, staleError(ctx, tx, d))
	}
	evID, err := insertEvent(ctx, tx, d.ID, ev, evData, at)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: commit: %w", op, s.ioError(err))
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
func staleError(ctx context.Context, tx *sql.Tx, d *store.Deployment) error {
	var rev int64
	err := tx.QueryRowContext(ctx, `SELECT rev FROM bluegreen_deployments WHERE id = ?`, d.ID).Scan(&rev)
	if errors.Is(err, sql.ErrNoRows) {
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
	row := s.r.QueryRowContext(ctx, `SELECT `+deploymentColumns+` FROM bluegreen_deployments WHERE id = ?`, id)
	d, err := scanDeployment(row)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Deployment{}, fmt.Errorf("get deployment %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Deployment{}, fmt.Errorf("get deployment %d: %w", id, err)
	}
	return d, nil
}

// ActiveDeployment returns app's active deployment, or store.ErrNotFound.
func (s *Store) ActiveDeployment(ctx context.Context, app string) (store.Deployment, error) {
	row := s.r.QueryRowContext(ctx, `SELECT `+deploymentColumns+` FROM bluegreen_deployments WHERE app = ? AND active`, app)
	d, err := scanDeployment(row)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Deployment{}, fmt.Errorf("get active deployment of %s: %w", app, store.ErrNotFound)
	}
	if err != nil {
		return store.Deployment{}, fmt.Errorf("get active deployment of %s: %w", app, err)
	}
	return d, nil
}

// ListDeployments returns app's deployments newest first, at most limit of
// them; limit <= 0 means all.
func (s *Store) ListDeployments(ctx context.Context, app string, limit int) (ds []store.Deployment, err error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+deploymentColumns+`
FROM bluegreen_deployments WHERE app = ? ORDER BY id DESC LIMIT ?`, app, limit)
	if err != nil {
		return nil, fmt.Errorf("list deployments of %s: %w", app, err)
	}
	defer func() {
		if cerr := rows.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("list deployments of %s: %w", app, cerr)
		}
	}()
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

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// scanDeployment reads one row of deploymentColumns.
func scanDeployment(sc scanner) (store.Deployment, error) {
	var (
		d                                store.Deployment
		deadline, ended, created, update sql.NullString
		data                             sql.NullString
	)
	err := sc.Scan(&d.ID, &d.App, &d.Kind, &d.Version, &d.Slot, &d.FromVersion, &d.Strategy,
		&d.Phase, &d.Active, &d.Paused, &d.Step, &d.Weight, &deadline, &d.TrafficMoved,
		&d.Reason, &data, &d.Rev, &created, &update, &ended)
	if err != nil {
		return store.Deployment{}, err
	}
	d.Data = rawJSON(data)
	for _, f := range []struct {
		dst *time.Time
		src sql.NullString
	}{{&d.Deadline, deadline}, {&d.CreatedAt, created}, {&d.UpdatedAt, update}, {&d.EndedAt, ended}} {
		if *f.dst, err = parseTime(f.src); err != nil {
			return store.Deployment{}, fmt.Errorf("deployment %d: %w", d.ID, err)
		}
	}
	return d, nil
}
