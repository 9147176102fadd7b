package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Backfill is a parsed backfill.sql:
//
//	-- bluegreen: table=customers key=id [batch=100]
//	UPDATE customers SET city = split_part(address, ',', 2)
//	WHERE id >= :lo AND id < :hi AND city IS NULL;
//
// The header names the table and its integer key; the one statement
// updates the rows whose key is in [:lo, :hi). It must be idempotent over
// a range (running a range twice gives the same rows), since a batch
// interrupted before its commit runs again.
type Backfill struct {
	Table, Key string
	BatchSize  int // 0: Options.BatchSize
	SQL        string
}

// BackfillPlan is a backfill as a plan shows it.
type BackfillPlan struct {
	Table, Key string
	BatchSize  int
	SQL        string
	Next       *int64 // resume point, nil for a fresh start
}

var (
	headerRE = regexp.MustCompile(`(?m)^\s*--\s*bluegreen:\s*(.*)$`)
	loRE     = regexp.MustCompile(`:lo\b`)
	hiRE     = regexp.MustCompile(`:hi\b`)
	identRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)
)

func parseBackfill(f *File) (*Backfill, error) {
	m := headerRE.FindStringSubmatch(f.Text)
	if m == nil {
		return nil, errors.New("missing header: start with `-- bluegreen: table=NAME key=COLUMN` (key: an integer column)")
	}
	b := &Backfill{}
	for _, kv := range strings.Fields(m[1]) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("header: %q: want key=value", kv)
		}
		switch k {
		case "table":
			b.Table = v
		case "key":
			b.Key = v
		case "batch":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("header: batch=%s: want a positive whole number", v)
			}
			b.BatchSize = n
		default:
			return nil, fmt.Errorf("header: unknown key %q: want table, key or batch", k)
		}
	}
	if !identRE.MatchString(b.Table) || !identRE.MatchString(b.Key) {
		return nil, errors.New("header: table= and key= must be plain identifiers, such as table=customers key=id")
	}
	if len(f.Statements) != 1 {
		return nil, fmt.Errorf("want exactly one statement, found %d", len(f.Statements))
	}
	b.SQL = f.Statements[0]
	body := stripComments(b.SQL)
	if !loRE.MatchString(body) || !hiRE.MatchString(body) {
		return nil, errors.New("the statement must use both :lo and :hi, such as WHERE id >= :lo AND id < :hi")
	}
	return b, nil
}

// bind puts a batch's key range into the statement. Keys are integers, so
// they are written as literals: the same text runs on both databases.
func (b *Backfill) bind(lo, hi int64) string {
	s := loRE.ReplaceAllString(b.SQL, strconv.FormatInt(lo, 10))
	return hiRE.ReplaceAllString(s, strconv.FormatInt(hi, 10))
}

// BatchProgress is reported after each committed batch.
type BatchProgress struct {
	Lo, Hi    int64 // the batch's key range [Lo, Hi)
	Rows      int64 // rows the batch updated
	TotalRows int64 // rows updated so far, over every run
	Done      float64
	Took      time.Duration
	Size      int           // keys per batch after throttling
	Pause     time.Duration // inserted after this batch
	Rate      float64       // rows per second in this run
	ETA       time.Duration
}

// runBackfill runs the backfill of m in batches from the recorded resume
// point, each batch committed with its progress in the history row.
func (e *Engine) runBackfill(ctx context.Context, m *Migration, rec *Record) error {
	b := m.Backfill
	if rec.BackfillNext == nil {
		var lo, hi sql.NullInt64
		q := fmt.Sprintf("SELECT min(%s), max(%s) FROM %s", b.Key, b.Key, b.Table)
		if err := e.db.sql.QueryRowContext(ctx, q).Scan(&lo, &hi); err != nil {
			return fmt.Errorf("backfill %s: key range of %s: %w", m.Name, b.Table, err)
		}
		next, max := lo.Int64, hi.Int64+1
		if !lo.Valid {
			next, max = 0, 0
		}
		rec.BackfillNext, rec.BackfillMax = &next, &max
		rec.UpdatedAt = e.opts.Now()
		if err := saveRecord(ctx, e.db, e.db.sql, rec); err != nil {
			return fmt.Errorf("backfill %s: %w", m.Name, err)
		}
	}
	limit := b.BatchSize
	if limit == 0 {
		limit = e.opts.BatchSize
	}
	th := throttle{limit: limit, size: limit, target: e.opts.BatchTarget, duty: e.opts.DutyCycle, maxRate: e.opts.MaxRate}
	start, end := *rec.BackfillNext, *rec.BackfillMax
	began := e.opts.Now()
	var runRows int64
	lastSaid := time.Time{}
	for lo := start; lo < end; {
		hi := min(lo+int64(th.size), end)
		t0 := e.opts.Now()
		n, err := e.backfillBatch(ctx, m, rec, lo, hi)
		if err != nil {
			return err
		}
		took := e.opts.Now().Sub(t0)
		runRows += n
		batchLo := lo
		lo = hi
		pause := th.after(took, runRows, e.opts.Now().Sub(began))
		size := th.size
		p := BatchProgress{Lo: batchLo, Hi: hi, Rows: n, TotalRows: rec.BackfillRows, Took: took, Size: size, Pause: pause}
		if total := end - start; total > 0 {
			p.Done = float64(hi-start) / float64(total)
		}
		if el := e.opts.Now().Sub(began).Seconds(); el > 0 {
			p.Rate = float64(runRows) / el
			if keysPerSec := float64(hi-start) / el; keysPerSec > 0 {
				p.ETA = time.Duration(float64(end-hi) / keysPerSec * float64(time.Second))
			}
		}
		e.emit(ctx, Event{Migration: m.Name, Op: OpExpand, Kind: EventBatch, Batch: &p})
		if now := e.opts.Now(); now.Sub(lastSaid) >= e.opts.ProgressEvery || hi >= end {
			lastSaid = now
			e.say("%s backfill: %d rows, %.0f%% of this run's %s keys, %.0f rows/s, ETA %s, batch %d", m.Name, rec.BackfillRows, 100*p.Done, b.Table, p.Rate, p.ETA.Round(time.Second), size)
		}
		if pause > 0 && hi < end {
			if err := sleep(ctx, pause); err != nil {
				return fmt.Errorf("backfill %s: %w", m.Name, err)
			}
		}
	}
	return nil
}

// maxPause bounds one pause of the throttle.
const maxPause = 10 * time.Second

// throttle paces a backfill so that live writers keep their latency. Three
// rules, the longest pause wins:
//
//   - a batch slower than target halves the next one and pauses as long
//     as it took (up to 5s); a batch
//     faster than target/2 lets the size grow back, doubling, up to limit;
//   - duty cycle: after a batch that took d, pause d×(1−duty)/duty, so the
//     backfill holds the database at most that share of the time. What a
//     writer feels during a backfill on PostgreSQL is mostly its commit
//     waiting on a WAL flush that carries the batch's WAL, so the share
//     of the writer's commits that meet a running batch is what its p99
//     sees;
//   - rate cap: with maxRate > 0, the run's rows stay at or below maxRate
//     a second.
type throttle struct {
	limit, size int
	target      time.Duration
	duty        float64 // (0, 1]
	maxRate     float64 // rows/s; 0: none
}

// after adapts the batch size to a batch that took took and returns the
// pause before the next one; runRows rows were done in elapsed so far.
func (t *throttle) after(took time.Duration, runRows int64, elapsed time.Duration) time.Duration {
	var pause time.Duration
	switch {
	case took > t.target:
		t.size = max(t.size/2, 1)
		pause = min(took, 5*time.Second)
	case took < t.target/2 && t.size < t.limit:
		t.size = min(t.size*2, t.limit)
	}
	if t.duty > 0 && t.duty < 1 {
		pause = max(pause, time.Duration(float64(took)*(1-t.duty)/t.duty))
	}
	if t.maxRate > 0 {
		due := time.Duration(float64(runRows) / t.maxRate * float64(time.Second))
		pause = max(pause, due-elapsed)
	}
	return min(pause, maxPause)
}

// backfillBatch updates keys [lo, hi) and records the progress in the same
// transaction, so a kill loses at most the uncommitted batch.
func (e *Engine) backfillBatch(ctx context.Context, m *Migration, rec *Record, lo, hi int64) (int64, error) {
	var rows int64
	err := e.withLockRetry(ctx, m.Name, OpExpand, "backfill batch", func(ctx context.Context) error {
		var n int64
		r := *rec
		err := e.lockedTx(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, m.Backfill.bind(lo, hi))
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		}, func(tx *sql.Tx) error {
			r.BackfillNext = &hi
			r.BackfillRows += n
			r.UpdatedAt = e.opts.Now()
			return saveRecord(ctx, e.db, tx, &r)
		})
		if err != nil {
			return err
		}
		*rec = r
		rows = n
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("backfill %s: batch %s in [%d, %d): %w", m.Name, m.Backfill.Key, lo, hi, err)
	}
	return rows, nil
}
