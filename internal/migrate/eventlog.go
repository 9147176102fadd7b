package migrate

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// EventsTable is the log of migration events, beside the history table in
// the application's database. Migrations run from the CLI, in another
// process than serve; serve follows this table (see Watcher) to put them
// on its event stream.
const EventsTable = "bluegreen_migration_events"

// LoggedEvent is one row of the events table. Only the events worth a
// person's attention are logged: phase changes, refused and forced
// contracts, and lock timeouts; not every statement or backfill batch.
type LoggedEvent struct {
	ID        int64     `json:"id"`
	Time      time.Time `json:"time"`
	Migration string    `json:"migration"`
	Op        Op        `json:"op"`
	Kind      EventKind `json:"kind"`
	Phase     Phase     `json:"phase,omitempty"`
	Message   string    `json:"message,omitempty"`
	// Data holds the numbers of the event (backfill rows and duration on
	// a phase event, blockers on a lock timeout), a JSON object.
	Data json.RawMessage `json:"data,omitempty"`
	By   string          `json:"by,omitempty"` // user@host of the runner
}

// logged reports whether events of kind k go to the events table.
func logged(k EventKind) bool {
	switch k {
	case EventPhase, EventForced, EventRefused, EventLockTimeout:
		return true
	case EventStep, EventBatch:
	}
	return false
}

func eventsDDL(d Dialect) string {
	id := "id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
	if d == SQLite {
		id = "id INTEGER PRIMARY KEY AUTOINCREMENT"
	}
	return `CREATE TABLE IF NOT EXISTS ` + EventsTable + ` (
	` + id + `,
	time      TEXT NOT NULL,
	migration TEXT NOT NULL,
	op        TEXT NOT NULL,
	kind      TEXT NOT NULL,
	phase     TEXT NOT NULL DEFAULT '',
	message   TEXT NOT NULL DEFAULT '',
	data      TEXT NOT NULL DEFAULT '{}',
	applied_by TEXT NOT NULL DEFAULT ''
)`
}

// logEvent appends ev to the events table. A failure is logged, not
// returned: the migration itself went fine, and its history row is the
// record of truth.
func (e *Engine) logEvent(ctx context.Context, ev Event) {
	data := map[string]any{}
	if len(ev.Blockers) > 0 {
		data["blockers"] = ev.Blockers
	}
	if ev.Attempt > 0 {
		data["attempt"] = ev.Attempt
	}
	for k, v := range ev.Data {
		data[k] = v
	}
	raw, err := json.Marshal(data)
	if err == nil {
		_, err = e.db.sql.ExecContext(context.WithoutCancel(ctx), e.db.rebind(`INSERT INTO `+EventsTable+
			` (time, migration, op, kind, phase, message, data, applied_by) VALUES (?,?,?,?,?,?,?,?)`),
			fmtTime(ev.Time), ev.Migration, string(ev.Op), string(ev.Kind), string(ev.Phase), ev.Message, string(raw), e.opts.By)
	}
	if err != nil {
		e.opts.Log.Warn("record migration event", "migration", ev.Migration, "kind", string(ev.Kind), "err", err)
	}
}

// tableExists reports whether the database has table name (unqualified).
func tableExists(ctx context.Context, db *DB, name string) (bool, error) {
	var n int
	q := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`
	if db.dialect == Postgres {
		q = `SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename = ?`
	}
	if err := db.sql.QueryRowContext(ctx, db.rebind(q), name).Scan(&n); err != nil {
		return false, fmt.Errorf("look for table %s: %w", name, err)
	}
	return n > 0, nil
}

// ReadEvents returns the logged events with an id above after, oldest
// first, at most limit (limit <= 0: all). A database where no migration
// ever ran has none.
func ReadEvents(ctx context.Context, db *DB, after int64, limit int) ([]LoggedEvent, error) {
	ok, err := tableExists(ctx, db, EventsTable)
	if err != nil || !ok {
		return nil, err
	}
	q := `SELECT id, time, migration, op, kind, phase, message, data, applied_by FROM ` + EventsTable + ` WHERE id > ? ORDER BY id`
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	rows, err := db.sql.QueryContext(ctx, db.rebind(q), after)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", EventsTable, err)
	}
	defer rows.Close() //nolint:errcheck // rows.Err is checked below
	var out []LoggedEvent
	for rows.Next() {
		var (
			ev                     LoggedEvent
			at, op, kind, ph, data string
		)
		if err := rows.Scan(&ev.ID, &at, &ev.Migration, &op, &kind, &ph, &ev.Message, &data, &ev.By); err != nil {
			return nil, fmt.Errorf("read %s: %w", EventsTable, err)
		}
		ev.Time, ev.Op, ev.Kind, ev.Phase = parseTime(at), Op(op), EventKind(kind), Phase(ph)
		if data != "" && data != "{}" {
			ev.Data = json.RawMessage(data)
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", EventsTable, err)
	}
	return out, nil
}

// lastEventID is the id of the newest logged event, 0 if none.
func lastEventID(ctx context.Context, db *DB) (int64, error) {
	ok, err := tableExists(ctx, db, EventsTable)
	if err != nil || !ok {
		return 0, err
	}
	var id sql.NullInt64
	if err := db.sql.QueryRowContext(ctx, `SELECT max(id) FROM `+EventsTable).Scan(&id); err != nil {
		return 0, fmt.Errorf("read %s: %w", EventsTable, err)
	}
	return id.Int64, nil
}
