package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// migration is one step of the store's own schema. Versions start at 1 and
// increase by one; a released migration is never edited, only followed.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations is the store's schema history, oldest first.
func migrations() []migration {
	return []migration{{1, "initial", `
CREATE TABLE bluegreen_routes (
	app        TEXT PRIMARY KEY,
	live       TEXT NOT NULL,
	weights    TEXT NOT NULL,          -- JSON object: slot -> percent
	updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE bluegreen_slots (
	app        TEXT NOT NULL,
	slot       TEXT NOT NULL,
	version    TEXT NOT NULL,
	state      TEXT NOT NULL,
	instances  TEXT,                   -- JSON, the driver's own record
	stop_at    TEXT,
	updated_at TEXT NOT NULL,
	PRIMARY KEY (app, slot)
) STRICT;

CREATE TABLE bluegreen_deployments (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	app           TEXT NOT NULL,
	kind          TEXT NOT NULL,
	version       TEXT NOT NULL,
	slot          TEXT NOT NULL,
	from_version  TEXT NOT NULL,
	strategy      TEXT NOT NULL,
	phase         TEXT NOT NULL,
	active        INTEGER NOT NULL CHECK (active IN (0, 1)),
	paused        TEXT NOT NULL,
	step          INTEGER NOT NULL,
	weight        INTEGER NOT NULL,
	deadline      TEXT,
	traffic_moved INTEGER NOT NULL CHECK (traffic_moved IN (0, 1)),
	reason        TEXT NOT NULL,
	data          TEXT,                -- JSON, owned by the controller
	rev           INTEGER NOT NULL CHECK (rev > 0),
	created_at    TEXT NOT NULL,
	updated_at    TEXT NOT NULL,
	ended_at      TEXT
) STRICT;

-- At most one active deployment per app, whoever writes.
CREATE UNIQUE INDEX bluegreen_deployments_one_active ON bluegreen_deployments (app) WHERE active;
CREATE INDEX bluegreen_deployments_app ON bluegreen_deployments (app, id);

CREATE TABLE bluegreen_events (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	deployment_id INTEGER NOT NULL REFERENCES bluegreen_deployments (id) ON DELETE CASCADE,
	time          TEXT NOT NULL,
	phase         TEXT NOT NULL,
	reason        TEXT NOT NULL,
	data          TEXT                 -- JSON
) STRICT;

CREATE INDEX bluegreen_events_deployment ON bluegreen_events (deployment_id, id);
`}, {2, "mcp sessions", `
CREATE TABLE bluegreen_mcp_sessions (
	app       TEXT NOT NULL,
	id        TEXT NOT NULL,
	slot      TEXT NOT NULL,
	instance  TEXT NOT NULL,           -- host:port, '' for any instance of the slot
	last_used TEXT NOT NULL,
	PRIMARY KEY (app, id)
) STRICT;
`}, {3, "slot stopping since", `
ALTER TABLE bluegreen_slots ADD COLUMN stopping_since TEXT;
`}, {4, "route revision", `
ALTER TABLE bluegreen_routes ADD COLUMN rev INTEGER NOT NULL DEFAULT 1;
`}, {5, "admin audit and sessions", `
CREATE TABLE bluegreen_audit (
	id     INTEGER PRIMARY KEY AUTOINCREMENT,
	app    TEXT NOT NULL,
	time   TEXT NOT NULL,
	actor  TEXT NOT NULL,              -- token, or session:<hash>
	action TEXT NOT NULL,
	args   TEXT,                       -- JSON object
	result TEXT NOT NULL,              -- ok, or the error
	remote TEXT NOT NULL
) STRICT;

CREATE INDEX bluegreen_audit_app ON bluegreen_audit (app, id);

CREATE TABLE bluegreen_admin_sessions (
	app     TEXT NOT NULL,
	key     TEXT NOT NULL,             -- SHA-256 of the session id, hex; never the id
	csrf    TEXT NOT NULL,
	created TEXT NOT NULL,
	expires TEXT NOT NULL,
	PRIMARY KEY (app, key)
) STRICT;
`}}
}

// latestVersion is the schema version this binary writes.
func latestVersion() int {
	ms := migrations()
	return ms[len(ms)-1].version
}

// createVersionTable is idempotent; it runs before any migration.
const createVersionTable = `
CREATE TABLE IF NOT EXISTS bluegreen_schema_version (
	version    INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at TEXT NOT NULL
) STRICT`

// migrate brings the schema up to latestVersion. Each migration runs in its
// own write transaction (BEGIN IMMEDIATE through the writer's _txlock), which
// re-reads the version first, so two processes opening the same file at once
// apply each migration exactly once.
func migrate(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, createVersionTable); err != nil {
		return fmt.Errorf("create schema version table: %w", err)
	}
	for _, m := range migrations() {
		if err := apply(ctx, db, m); err != nil {
			return err
		}
	}
	return nil
}

// apply runs m unless the database already has it. It refuses a database
// whose schema is newer than this binary.
func apply(ctx context.Context, db *sql.DB, m migration) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate schema to %d (%s): begin: %w", m.version, m.name, err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, rollback(tx))
		}
	}()
	current, err := schemaVersion(ctx, tx)
	if err != nil {
		return fmt.Errorf("migrate schema to %d (%s): %w", m.version, m.name, err)
	}
	if current > latestVersion() {
		return fmt.Errorf("database schema version %d is newer than this bluegreen supports (%d): upgrade bluegreen", current, latestVersion())
	}
	if current >= m.version {
		return tx.Rollback()
	}
	if current != m.version-1 {
		return fmt.Errorf("migrate schema to %d (%s): database is at version %d", m.version, m.name, current)
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("migrate schema to %d (%s): %w", m.version, m.name, err)
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO bluegreen_schema_version (version, name, applied_at) VALUES (?, ?, ?)`,
		m.version, m.name, formatTime(time.Now())); err != nil {
		return fmt.Errorf("migrate schema to %d (%s): record version: %w", m.version, m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate schema to %d (%s): commit: %w", m.version, m.name, err)
	}
	return nil
}

// querier is what both *sql.DB and *sql.Tx offer for reads.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// schemaVersion is the highest applied migration, 0 for a new database.
func schemaVersion(ctx context.Context, q querier) (int, error) {
	var v int
	err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM bluegreen_schema_version`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// rollback rolls tx back; a transaction already done is not an error.
func rollback(tx *sql.Tx) error {
	if err := tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return fmt.Errorf("rollback: %w", err)
	}
	return nil
}
