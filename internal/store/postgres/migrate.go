package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrationLock is the advisory lock key every schema change of the store
// takes ("bluegrn" in ASCII); advisory locks are per database.
const migrationLock int64 = 0x626c756567726e

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
	app        text PRIMARY KEY,
	live       text NOT NULL,
	weights    jsonb NOT NULL,          -- slot -> percent
	updated_at timestamptz NOT NULL
);

CREATE TABLE bluegreen_slots (
	app        text NOT NULL,
	slot       text NOT NULL,
	version    text NOT NULL,
	state      text NOT NULL,
	instances  jsonb,                   -- the driver's own record
	stop_at    timestamptz,
	updated_at timestamptz NOT NULL,
	PRIMARY KEY (app, slot)
);

CREATE TABLE bluegreen_deployments (
	id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	app           text NOT NULL,
	kind          text NOT NULL,
	version       text NOT NULL,
	slot          text NOT NULL,
	from_version  text NOT NULL,
	strategy      text NOT NULL,
	phase         text NOT NULL,
	active        boolean NOT NULL,
	paused        text NOT NULL,
	step          integer NOT NULL,
	weight        integer NOT NULL,
	deadline      timestamptz,
	traffic_moved boolean NOT NULL,
	reason        text NOT NULL,
	data          jsonb,                -- owned by the controller
	rev           bigint NOT NULL CHECK (rev > 0),
	created_at    timestamptz NOT NULL,
	updated_at    timestamptz NOT NULL,
	ended_at      timestamptz
);

-- At most one active deployment per app, whoever writes.
CREATE UNIQUE INDEX bluegreen_deployments_one_active ON bluegreen_deployments (app) WHERE active;
CREATE INDEX bluegreen_deployments_app ON bluegreen_deployments (app, id);

CREATE TABLE bluegreen_events (
	id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	deployment_id bigint NOT NULL REFERENCES bluegreen_deployments (id) ON DELETE CASCADE,
	time          timestamptz NOT NULL,
	phase         text NOT NULL,
	reason        text NOT NULL,
	data          jsonb
);

CREATE INDEX bluegreen_events_deployment ON bluegreen_events (deployment_id, id);
`}, {2, "mcp sessions", `
CREATE TABLE bluegreen_mcp_sessions (
	app       text NOT NULL,
	id        text NOT NULL,
	slot      text NOT NULL,
	instance  text NOT NULL,            -- host:port, '' for any instance of the slot
	last_used timestamptz NOT NULL,
	PRIMARY KEY (app, id)
);
`}, {3, "slot stopping since", `
ALTER TABLE bluegreen_slots ADD COLUMN stopping_since timestamptz;
`}, {4, "cluster", `
ALTER TABLE bluegreen_routes ADD COLUMN rev bigint NOT NULL DEFAULT 1;

-- The controller lease: one row per app; token grows with each new holder.
CREATE TABLE bluegreen_leases (
	app        text PRIMARY KEY,
	holder     text NOT NULL,
	token      bigint NOT NULL CHECK (token > 0),
	expires_at timestamptz NOT NULL
);

-- Every serve process sharing the database, written by its heartbeat.
CREATE TABLE bluegreen_instances (
	app        text NOT NULL,
	id         text NOT NULL,
	admin      text NOT NULL,
	production text NOT NULL,
	route_rev  bigint NOT NULL,
	leader     boolean NOT NULL,
	degraded   boolean NOT NULL,
	counts     jsonb,                   -- the router's per-slot counts
	started_at timestamptz NOT NULL,
	last_seen  timestamptz NOT NULL,
	PRIMARY KEY (app, id)
);
`}, {5, "admin audit and sessions", `
CREATE TABLE bluegreen_audit (
	id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	app    text NOT NULL,
	time   timestamptz NOT NULL,
	actor  text NOT NULL,               -- token, or session:<hash>
	action text NOT NULL,
	args   jsonb,
	result text NOT NULL,               -- ok, or the error
	remote text NOT NULL
);

CREATE INDEX bluegreen_audit_app ON bluegreen_audit (app, id);

CREATE TABLE bluegreen_admin_sessions (
	app     text NOT NULL,
	key     text NOT NULL,              -- SHA-256 of the session id, hex; never the id
	csrf    text NOT NULL,
	created timestamptz NOT NULL,
	expires timestamptz NOT NULL,
	PRIMARY KEY (app, key)
);
`}}
}

// latestVersion is the schema version this binary writes.
func latestVersion() int {
	ms := migrations()
	return ms[len(ms)-1].version
}

// createVersionTable is idempotent; it runs (under the lock) before any
// migration.
const createVersionTable = `
CREATE TABLE IF NOT EXISTS bluegreen_schema_version (
	version    integer PRIMARY KEY,
	name       text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
)`

// migrate brings the schema up to latestVersion, one transaction per step,
// each holding the advisory lock.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	err := locked(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, createVersionTable); err != nil {
			return fmt.Errorf("create schema version table: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, m := range migrations() {
		err := locked(ctx, pool, func(tx pgx.Tx) error { return apply(ctx, tx, m) })
		if err != nil {
			return err
		}
	}
	return nil
}

// apply runs m inside tx unless the database already has it. It refuses a
// database whose schema is newer than this binary.
func apply(ctx context.Context, tx pgx.Tx, m migration) error {
	current, err := schemaVersion(ctx, tx)
	if err != nil {
		return fmt.Errorf("migrate schema to %d (%s): %w", m.version, m.name, err)
	}
	if current > latestVersion() {
		return fmt.Errorf("database schema version %d is newer than this bluegreen supports (%d): upgrade bluegreen", current, latestVersion())
	}
	if current >= m.version {
		return nil
	}
	if current != m.version-1 {
		return fmt.Errorf("migrate schema to %d (%s): database is at version %d", m.version, m.name, current)
	}
	if _, err := tx.Exec(ctx, m.sql); err != nil {
		return fmt.Errorf("migrate schema to %d (%s): %w", m.version, m.name, err)
	}
	if _, err := tx.Exec(ctx,
		`INSERT INTO bluegreen_schema_version (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
		return fmt.Errorf("migrate schema to %d (%s): record version: %w", m.version, m.name, err)
	}
	return nil
}

// locked runs fn in a transaction that holds the migration advisory lock
// until it commits or rolls back.
func locked(ctx context.Context, pool *pgxpool.Pool, fn func(tx pgx.Tx) error) error {
	return inTx(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
			return fmt.Errorf("take migration lock: %w", err)
		}
		return fn(tx)
	})
}

// queryRower is a pool, a connection or a transaction.
type queryRower interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// schemaVersion is the highest applied migration, 0 for a new database.
func schemaVersion(ctx context.Context, q queryRower) (int, error) {
	var v int
	err := q.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM bluegreen_schema_version`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}
