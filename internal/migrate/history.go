package migrate

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// HistoryTable is the table that records what ran.
const HistoryTable = "bluegreen_schema_migrations"

// Phase is where one migration stands, as stored in the history table.
type Phase string

// The phases. A migration with no history row is pending. The -ing phases
// mean an operation started and has not finished: Step says how many of its
// statements are done, and the next run resumes after them.
const (
	PhasePending     Phase = "pending"
	PhaseExpanding   Phase = "expanding"
	PhaseExpanded    Phase = "expanded"
	PhaseContracting Phase = "contracting"
	PhaseContracted  Phase = "contracted"
	PhaseRestoring   Phase = "restoring"
	PhaseRestored    Phase = "restored"
)

// Phases is every phase, for metrics.
var Phases = [...]Phase{PhasePending, PhaseExpanding, PhaseExpanded, PhaseContracting, PhaseContracted, PhaseRestoring, PhaseRestored}

// ErrConflict: the history row changed under us (another runner acted).
var ErrConflict = errors.New("history row changed concurrently")

// Record is one row of the history table.
type Record struct {
	Name  string
	Phase Phase
	// Checksums holds the sha256 of each file whose phase has started
	// (expand.sql and backfill.sql from expand on, contract.sql from
	// contract on, restore.sql from restore on).
	Checksums map[FileKind]string
	// Step is how many statements of the current operation's plan have
	// finished (committed).
	Step int
	// Backfill progress: the next key to process (nil before the backfill
	// started), the exclusive upper bound, rows updated so far.
	BackfillNext *int64
	BackfillMax  *int64
	BackfillRows int64
	// Archive lists what the contract saved before dropping it.
	Archive     []Archived
	StartedAt   time.Time // of the current or last operation
	ExpandedAt  time.Time
	ContractAt  time.Time
	RestoredAt  time.Time
	UpdatedAt   time.Time
	AppliedBy   string // user@host of the last operation
	Duration    time.Duration
	ForceReason string // why a refused contract was forced
	Version     int64  // bumped by every write; writes are conditional on it
}

// querier is what *sql.DB, *sql.Conn and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

const historyDDL = `CREATE TABLE IF NOT EXISTS ` + HistoryTable + ` (
	name          TEXT PRIMARY KEY,
	phase         TEXT NOT NULL CHECK (phase IN ('expanding','expanded','contracting','contracted','restoring','restored')),
	checksums     TEXT NOT NULL,
	step          INTEGER NOT NULL DEFAULT 0 CHECK (step >= 0),
	backfill_next BIGINT,
	backfill_max  BIGINT,
	backfill_rows BIGINT NOT NULL DEFAULT 0,
	archive       TEXT NOT NULL DEFAULT '[]',
	started_at    TEXT NOT NULL,
	expanded_at   TEXT NOT NULL DEFAULT '',
	contracted_at TEXT NOT NULL DEFAULT '',
	restored_at   TEXT NOT NULL DEFAULT '',
	updated_at    TEXT NOT NULL,
	applied_by    TEXT NOT NULL,
	duration_ms   BIGINT NOT NULL DEFAULT 0,
	force_reason  TEXT NOT NULL DEFAULT '',
	version       BIGINT NOT NULL DEFAULT 1
)`

const historyCols = `name, phase, checksums, step, backfill_next, backfill_max, backfill_rows, archive,
	started_at, expanded_at, contracted_at, restored_at, updated_at, applied_by, duration_ms, force_reason, version`

// ensureHistory creates the history and events tables if they are missing.
func ensureHistory(ctx context.Context, db *DB) error {
	if _, err := db.sql.ExecContext(ctx, historyDDL); err != nil {
		return fmt.Errorf("create %s: %w", HistoryTable, err)
	}
	if _, err := db.sql.ExecContext(ctx, eventsDDL(db.dialect)); err != nil {
		return fmt.Errorf("create %s: %w", EventsTable, err)
	}
	return nil
}

// readHistory returns every history row by name.
func readHistory(ctx context.Context, db *DB, q querier) (map[string]*Record, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+historyCols+` FROM `+HistoryTable)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", HistoryTable, err)
	}
	defer rows.Close() //nolint:errcheck // rows.Err is checked below
	out := map[string]*Record{}
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", HistoryTable, err)
		}
		out[r.Name] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", HistoryTable, err)
	}
	return out, nil
}

func scanRecord(rows *sql.Rows) (*Record, error) {
	var (
		r                                       Record
		phase, sums, archive                    string
		started, expanded, contracted, restored string
		updated                                 string
		next, max                               sql.NullInt64
		durMS                                   int64
	)
	if err := rows.Scan(&r.Name, &phase, &sums, &r.Step, &next, &max, &r.BackfillRows, &archive,
		&started, &expanded, &contracted, &restored, &updated, &r.AppliedBy, &durMS, &r.ForceReason, &r.Version); err != nil {
		return nil, err
	}
	r.Phase = Phase(phase)
	if err := json.Unmarshal([]byte(sums), &r.Checksums); err != nil {
		return nil, fmt.Errorf("%s: checksums: %w", r.Name, err)
	}
	if err := json.Unmarshal([]byte(archive), &r.Archive); err != nil {
		return nil, fmt.Errorf("%s: archive: %w", r.Name, err)
	}
	if next.Valid {
		r.BackfillNext = &next.Int64
	}
	if max.Valid {
		r.BackfillMax = &max.Int64
	}
	r.StartedAt = parseTime(started)
	r.ExpandedAt = parseTime(expanded)
	r.ContractAt = parseTime(contracted)
	r.RestoredAt = parseTime(restored)
	r.UpdatedAt = parseTime(updated)
	r.Duration = time.Duration(durMS) * time.Millisecond
	return &r, nil
}

// insertRecord writes a new row for r; a row already there is ErrConflict.
func insertRecord(ctx context.Context, db *DB, q querier, r *Record) error {
	sums, archive, err := r.encode()
	if err != nil {
		return err
	}
	r.Version = 1
	_, err = q.ExecContext(ctx, db.rebind(`INSERT INTO `+HistoryTable+` (`+historyCols+`)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`),
		r.Name, string(r.Phase), sums, r.Step, nullInt(r.BackfillNext), nullInt(r.BackfillMax), r.BackfillRows, archive,
		fmtTime(r.StartedAt), fmtTime(r.ExpandedAt), fmtTime(r.ContractAt), fmtTime(r.RestoredAt), fmtTime(r.UpdatedAt),
		r.AppliedBy, r.Duration.Milliseconds(), r.ForceReason, r.Version)
	if err != nil {
		return fmt.Errorf("insert %s row %s: %w", HistoryTable, r.Name, err)
	}
	return nil
}

// saveRecord writes r if its row still has r.Version, and bumps it;
// zero rows is ErrConflict.
func saveRecord(ctx context.Context, db *DB, q querier, r *Record) error {
	sums, archive, err := r.encode()
	if err != nil {
		return err
	}
	res, err := q.ExecContext(ctx, db.rebind(`UPDATE `+HistoryTable+` SET phase=?, checksums=?, step=?,
		backfill_next=?, backfill_max=?, backfill_rows=?, archive=?, started_at=?, expanded_at=?,
		contracted_at=?, restored_at=?, updated_at=?, applied_by=?, duration_ms=?, force_reason=?, version=?
		WHERE name=? AND version=?`),
		string(r.Phase), sums, r.Step, nullInt(r.BackfillNext), nullInt(r.BackfillMax), r.BackfillRows, archive,
		fmtTime(r.StartedAt), fmtTime(r.ExpandedAt), fmtTime(r.ContractAt), fmtTime(r.RestoredAt), fmtTime(r.UpdatedAt),
		r.AppliedBy, r.Duration.Milliseconds(), r.ForceReason, r.Version+1, r.Name, r.Version)
	if err != nil {
		return fmt.Errorf("update %s row %s: %w", HistoryTable, r.Name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("update %s row %s: %w", HistoryTable, r.Name, err)
	}
	if n != 1 {
		return fmt.Errorf("update %s row %s at version %d: %w", HistoryTable, r.Name, r.Version, ErrConflict)
	}
	r.Version++
	return nil
}

func (r *Record) encode() (string, string, error) {
	sums, err := json.Marshal(r.Checksums)
	if err != nil {
		return "", "", fmt.Errorf("encode checksums of %s: %w", r.Name, err)
	}
	arch := r.Archive
	if arch == nil {
		arch = []Archived{}
	}
	archive, err := json.Marshal(arch)
	if err != nil {
		return "", "", fmt.Errorf("encode archive of %s: %w", r.Name, err)
	}
	return string(sums), string(archive), nil
}

func nullInt(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}
