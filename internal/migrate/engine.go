package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"time"
)

// DefaultBatchSize is Options.BatchSize when unset: small batches keep the
// WAL a live writer's commit may have to flush with its own small (see the
// throttle in backfill.go and bench/README.md).
const DefaultBatchSize = 100

// DefaultDutyCycle is Options.DutyCycle when unset: after a batch that took
// d the backfill pauses d×(1−DutyCycle)/DutyCycle, so live writers have
// the database (and its WAL flushes) to themselves the rest of the time.
const DefaultDutyCycle = 0.5

// Options tune an Engine. Zero values take the defaults shown.
type Options struct {
	LockTimeout   time.Duration // PostgreSQL lock_timeout per statement; 2s
	LockRetries   int           // attempts per statement on lock timeout; 30
	RetryBase     time.Duration // first backoff; 200ms (doubles, with jitter)
	RetryMax      time.Duration // backoff cap; 10s
	RunnerWait    time.Duration // how long a second runner waits for the lock; 1m
	BatchSize     int           // backfill keys per batch; DefaultBatchSize
	BatchTarget   time.Duration // a slower batch shrinks and pauses; 200ms
	DutyCycle     float64       // share of time in backfill batches, (0, 1]; DefaultDutyCycle; 1: no pause
	MaxRate       float64       // backfill rows per second; 0: no cap
	ProgressEvery time.Duration // backfill progress line interval; 1s
	Out           io.Writer     // human-readable progress; io.Discard
	Log           *slog.Logger  // slog.New(slog.DiscardHandler)
	OnEvent       func(Event)   // every event, synchronously; may be nil
	Metrics       *Metrics      // may be nil
	Now           func() time.Time
	By            string // user@host recorded in history; from the OS
	// App and Releases (each version's releases.<version>.requires) name
	// the versioned schemas of ops.yaml migrations (see SchemaName); with
	// either empty there are none.
	App      string
	Releases map[string][]string
}

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.LockTimeout, 2*time.Second)
	def(&o.RetryBase, 200*time.Millisecond)
	def(&o.RetryMax, 10*time.Second)
	def(&o.RunnerWait, time.Minute)
	def(&o.BatchTarget, 200*time.Millisecond)
	def(&o.ProgressEvery, time.Second)
	if o.LockRetries <= 0 {
		o.LockRetries = 30
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.DutyCycle <= 0 || o.DutyCycle > 1 {
		o.DutyCycle = DefaultDutyCycle
	}
	if o.MaxRate < 0 {
		o.MaxRate = 0
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.By == "" {
		name := "unknown"
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
		host, err := os.Hostname()
		if err != nil {
			host = "unknown"
		}
		o.By = name + "@" + host
	}
	return o
}

// EventKind says what an Event reports.
type EventKind string

// The event kinds.
const (
	EventPhase       EventKind = "phase"        // a migration entered a phase
	EventStep        EventKind = "step"         // a statement finished
	EventLockTimeout EventKind = "lock_timeout" // a statement hit lock_timeout and will retry
	EventBatch       EventKind = "batch"        // a backfill batch committed
	EventForced      EventKind = "forced"       // a refused contract was forced
	EventRefused     EventKind = "refused"      // the gate refused a contract
)

// Event is one thing that happened while migrating.
type Event struct {
	Time      time.Time
	Migration string
	Op        Op
	Kind      EventKind
	Phase     Phase // EventPhase
	Step      int   // EventStep: 1-based
	Attempt   int   // EventLockTimeout
	Blockers  []Blocker
	Batch     *BatchProgress
	Message   string
	// Data holds numbers worth keeping with a phase event (backfill
	// rows, duration), logged with it in the events table.
	Data map[string]any
}

// Engine runs the migrations of one directory on one database.
type Engine struct {
	db   *DB
	set  Set
	opts Options
}

// New returns an Engine for the migrations in set on db.
func New(db *DB, set Set, opts Options) *Engine {
	return &Engine{db: db, set: set.forDialect(db.dialect), opts: opts.withDefaults()}
}

func (e *Engine) say(format string, args ...any) {
	fmt.Fprintf(e.opts.Out, format+"\n", args...)
}

// emit reports ev to the log, the metrics, the events table (for the
// kinds worth keeping, see logged) and Options.OnEvent.
func (e *Engine) emit(ctx context.Context, ev Event) {
	if ev.Time.IsZero() {
		ev.Time = e.opts.Now()
	}
	switch ev.Kind {
	case EventPhase:
		e.opts.Log.Info("migration phase", "migration", ev.Migration, "op", string(ev.Op), "phase", string(ev.Phase))
		e.opts.Metrics.set(ev.Migration, ev.Phase)
	case EventLockTimeout:
		e.opts.Log.Warn("migration lock timeout", "migration", ev.Migration, "op", string(ev.Op), "attempt", ev.Attempt, "blockers", describeBlockers(ev.Blockers))
		e.say("%s: %s", ev.Migration, ev.Message)
	case EventForced:
		e.opts.Log.Warn("migration gate forced", "migration", ev.Migration, "reason", ev.Message)
	case EventRefused:
		e.opts.Log.Info("migration gate refused", "migration", ev.Migration, "reason", ev.Message)
	case EventStep, EventBatch:
		e.opts.Log.Debug("migration progress", "migration", ev.Migration, "op", string(ev.Op), "kind", string(ev.Kind), "step", ev.Step)
	}
	if logged(ev.Kind) {
		e.logEvent(ctx, ev)
	}
	if e.opts.OnEvent != nil {
		e.opts.OnEvent(ev)
	}
}

// prepare creates the history table, takes the runner lock and reads the
// history, refusing files changed since they ran. The caller must call the
// returned unlocker.
func (e *Engine) prepare(ctx context.Context) (map[string]*Record, unlocker, error) {
	unlock, err := e.lockRunner(ctx)
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (map[string]*Record, unlocker, error) {
		if uerr := unlock(); uerr != nil {
			e.opts.Log.Warn("release migration runner lock", "err", uerr)
		}
		return nil, nil, err
	}
	if err := ensureHistory(ctx, e.db); err != nil {
		return fail(err)
	}
	hist, err := readHistory(ctx, e.db, e.db.sql)
	if err != nil {
		return fail(err)
	}
	if err := e.verify(hist); err != nil {
		return fail(err)
	}
	return hist, unlock, nil
}

// release drops the runner lock, joining its error to err.
func (e *Engine) release(unlock unlocker, err *error) {
	if uerr := unlock(); uerr != nil && *err == nil {
		*err = fmt.Errorf("release migration runner lock: %w", uerr)
	}
}

// runSteps runs it.Steps from the record's step counter, each committed
// with the counter.
func (e *Engine) runSteps(ctx context.Context, it *Item, rec *Record) error {
	for rec.Step < len(it.Steps) {
		i := rec.Step
		s := it.Steps[i]
		what := fmt.Sprintf("step %d/%d", i+1, len(it.Steps))
		if err := e.runStep(ctx, it, rec, s, what); err != nil {
			src := "engine statement"
			if s.Source != "" {
				src = string(s.Source)
			}
			return fmt.Errorf("%s %s: %s (%s, %q): %w; history records %d finished steps, run it again to resume",
				it.Op, it.Migration, what, src, firstLine(s.SQL), err, rec.Step)
		}
		e.emit(ctx, Event{Migration: it.Migration, Op: it.Op, Kind: EventStep, Step: i + 1, Message: firstLine(s.SQL)})
	}
	return nil
}

func (e *Engine) runStep(ctx context.Context, it *Item, rec *Record, s Step, what string) error {
	return e.withLockRetry(ctx, it.Migration, it.Op, what, func(ctx context.Context) error {
		next := *rec
		next.Step++
		next.UpdatedAt = e.opts.Now()
		if s.NoTx {
			if err := e.execAlone(ctx, s); err != nil {
				return err
			}
			// A crash here re-runs the statement: execAlone copes with a
			// concurrent index that already exists.
			if err := saveRecord(ctx, e.db, e.db.sql, &next); err != nil {
				return err
			}
			*rec = next
			return nil
		}
		err := e.lockedTx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, s.SQL)
			return err
		}, func(tx *sql.Tx) error { return saveRecord(ctx, e.db, tx, &next) })
		if err != nil {
			return err
		}
		*rec = next
		return nil
	})
}

// execAlone runs a statement that cannot be in a transaction, on its own
// connection with the lock timeout set for the session. Before a CREATE
// INDEX CONCURRENTLY it drops an INVALID index of the same name left by a
// failed build, and skips the build when a valid one already exists (the
// previous run built it and died before recording the step).
func (e *Engine) execAlone(ctx context.Context, s Step) (err error) {
	conn, err := e.db.sql.Conn(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := conn.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	if e.db.dialect != Postgres {
		_, err = conn.ExecContext(ctx, s.SQL)
		return err
	}
	if idx := concurrentIndexName(s.SQL); idx != "" {
		var valid *bool
		err := conn.QueryRowContext(ctx, `SELECT (SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass($1))`, idx).Scan(&valid)
		if err != nil {
			return fmt.Errorf("look up index %s: %w", idx, err)
		}
		switch {
		case valid != nil && *valid:
			return nil
		case valid != nil:
			e.say("dropping INVALID index %s left by a failed concurrent build", idx)
			if _, err := conn.ExecContext(ctx, "DROP INDEX CONCURRENTLY IF EXISTS "+idx); err != nil {
				return fmt.Errorf("drop invalid index %s: %w", idx, err)
			}
		}
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("SET lock_timeout = '%dms'", e.opts.LockTimeout.Milliseconds())); err != nil {
		return fmt.Errorf("set lock_timeout: %w", err)
	}
	var pid int64
	if err := conn.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		return fmt.Errorf("read backend pid: %w", err)
	}
	w := e.watchBlockers(ctx, pid)
	_, err = conn.ExecContext(ctx, s.SQL)
	if err := blocked(err, w.stop()); err != nil {
		// The session is reset when the pool reuses it; RESET here too.
		if _, rerr := conn.ExecContext(context.Background(), "RESET lock_timeout"); rerr != nil {
			e.opts.Log.Warn("reset lock_timeout", "err", rerr)
		}
		return err
	}
	if _, err := conn.ExecContext(ctx, "RESET lock_timeout"); err != nil {
		return fmt.Errorf("reset lock_timeout: %w", err)
	}
	return nil
}
