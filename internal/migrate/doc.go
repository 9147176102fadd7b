// Package migrate runs expand/contract schema migrations on PostgreSQL and
// SQLite, plan first, then execute.
//
// The main flow:
//
//	Load(dir)                  read migrations/NNNN_name/{expand,contract,backfill,validate,restore}.sql
//	Open(ctx, url)             postgres://… (pgx) or sqlite:path
//	New(db, set, opts)         an Engine; it creates bluegreen_schema_migrations on first use
//	e.Plan(ctx, op, name)      the exact statements an operation would run, from history and files
//	e.Expand / e.Contract / e.Restore(ctx, name)
//	                           take the runner lock (PostgreSQL advisory lock, SQLite lock
//	                           file), check checksums, build the plan, run it step by step
//	e.Validate(ctx, names)     validate.sql queries must return no rows (a gate)
//	e.ValidateSample(ctx, names, n)
//	                           the validators generated from ops.yaml over a sample of n rows
//	e.Rollback(ctx, name, o)   undo the expand of an ops.yaml migration (pending again);
//	                           CanRollback refuses it while a release that requires it runs
//	Gate{…}.Check(m, running)  refuses a contract while a release that needs the old shape
//	                           runs (with the time left), or before bake_time since promotion
//	NewWatcher(db, set, m)     serve's read-only view: Poll reads the history (metric) and
//	                           the events logged since the last poll
//
// Every step (one statement) commits in its own transaction together with
// the history row's step counter, so a failure leaves history naming
// exactly the last finished statement and the next run resumes after it.
// On PostgreSQL each step runs with a short lock_timeout and is retried
// with backoff and jitter on SQLSTATE 55P03, reporting the blocking
// sessions; statements that cannot run in a transaction (CREATE INDEX
// CONCURRENTLY, …) run alone, and an INVALID index left by a failed build
// is dropped before the retry. A backfill runs in key-range batches, each
// committed with its progress, and paced by a throttle (a duty cycle, a
// shrink-and-pause on slow batches, an optional rows/s cap) so live writers
// keep their latency. Phase changes, refused and forced contracts and lock
// timeouts are logged in bluegreen_migration_events, which serve follows.
// Before a contract drops a column its values are archived (keyed by
// primary key) so Restore can bring them back; on SQLite a copy of the
// database file is taken too.
package migrate
