// Command writer is the load generator and referee of bench/migrate: on a
// PostgreSQL server it creates a throwaway database with a customers table
// of -rows rows, keeps one connection doing -rate single-row UPDATEs a
// second of random rows, and measures that writer's latency in four
// phases:
//
//	baseline   no migration
//	backfill   `bluegreen migrate expand` runs 0001_split_address: ADD COLUMN
//	           ×4 and the dual-write trigger, then backfill.sql in batches
//	after      no migration, right after the backfill on the same table (the
//	           dual-write trigger installed; autovacuum cleaning up after the
//	           backfill's million dead row versions)
//	baseline2  no migration, on a freshly seeded table (the naive run's baseline)
//	naive      one UPDATE of the whole table, the seed articles' approach
//
// Latency is reported twice: "service", the time each UPDATE the writer
// actually sent took, and "scheduled", measured from the moment the
// update was due on the fixed schedule, so that updates the writer could
// not send while it was blocked count too (coordinated omission: a writer
// blocked for 20 s would otherwise show one slow sample, not 4,000).
//
// The database is dropped at the end. run.sh builds bluegreen, starts a
// throwaway server if needed and calls this program.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// config is the command line.
type config struct {
	serverURL   string
	bluegreen   string
	work        string
	rows        int64
	rate        int
	baseline    time.Duration
	baseline2   time.Duration
	after       time.Duration
	skipNaive   bool
	settle      time.Duration
	timeout     time.Duration
	batchSize   int
	batchTarget time.Duration
	dutyCycle   float64
	maxRate     float64
}

func main() {
	var c config
	flag.StringVar(&c.serverURL, "url", "", "PostgreSQL server URL (any database); a database bluegreen_bench_<pid> is created there and dropped at the end")
	flag.StringVar(&c.bluegreen, "bluegreen", "", "path of the bluegreen binary")
	flag.StringVar(&c.work, "work", "", "directory for the migration files, config and logs")
	flag.Int64Var(&c.rows, "rows", 1_000_000, "rows in customers")
	flag.IntVar(&c.rate, "rate", 200, "writer UPDATEs per second")
	flag.DurationVar(&c.baseline, "baseline", 15*time.Second, "length of the baseline phase")
	flag.DurationVar(&c.baseline2, "baseline2", 10*time.Second, "length of the baseline before the naive update")
	flag.DurationVar(&c.after, "after", 10*time.Second, "length of the baseline right after the backfill")
	flag.BoolVar(&c.skipNaive, "skip-naive", false, "skip baseline2 and the naive update (for tuning runs)")
	flag.DurationVar(&c.settle, "settle", 2*time.Second, "writer runs this long before and after each migration (not measured)")
	flag.DurationVar(&c.timeout, "timeout", 15*time.Minute, "bound on the whole run")
	flag.IntVar(&c.batchSize, "batch-size", 0, "bluegreen migrate --batch-size (0: its default)")
	flag.DurationVar(&c.batchTarget, "batch-target", 0, "bluegreen migrate --batch-target (0: its default)")
	flag.Float64Var(&c.dutyCycle, "duty-cycle", 0, "bluegreen migrate --duty-cycle (0: its default)")
	flag.Float64Var(&c.maxRate, "max-rate", 0, "bluegreen migrate --max-rate (0: its default, no cap)")
	flag.Parse()
	if c.serverURL == "" || c.bluegreen == "" || c.work == "" {
		fmt.Fprintln(os.Stderr, "writer: -url, -bluegreen and -work are required")
		os.Exit(2)
	}
	// SIGINT/SIGTERM end the run early, still dropping the database.
	sigCtx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(sigCtx, c.timeout)
	defer cancel()
	if err := run(ctx, c, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "writer: %v\n", err)
		cancel()
		stop()
		os.Exit(1)
	}
}

// run creates the bench database, runs the phases and prints the report.
func run(ctx context.Context, c config, out io.Writer) (err error) {
	dbURL, drop, err := createDatabase(ctx, c.serverURL)
	if err != nil {
		return err
	}
	defer func() {
		if derr := drop(); derr != nil && err == nil {
			err = derr
		}
	}()
	admin, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("connect to the bench database: %w", err)
	}
	defer func() {
		if cerr := admin.Close(context.Background()); cerr != nil && err == nil {
			err = fmt.Errorf("close admin connection: %w", cerr)
		}
	}()
	if err := describeServer(ctx, admin, out); err != nil {
		return err
	}
	cfgPath, err := writeMigration(c.work, dbURL)
	if err != nil {
		return err
	}

	var results []phaseResult
	step := func(format string, args ...any) { fmt.Fprintf(out, "bench: "+format+"\n", args...) }

	step("seeding %d rows", c.rows)
	if err := seed(ctx, admin, c.rows, false); err != nil {
		return err
	}
	step("baseline: %s of writer load, no migration", c.baseline)
	r, err := measure(ctx, dbURL, c, "baseline", func(ctx context.Context) (string, error) {
		return "", sleep(ctx, c.baseline)
	})
	if err != nil {
		return err
	}
	results = append(results, r)

	step("backfill: bluegreen migrate expand (log: %s)", filepath.Join(c.work, "migrate.log"))
	r, err = measure(ctx, dbURL, c, "backfill", func(ctx context.Context) (string, error) {
		return "", runExpand(ctx, c, cfgPath)
	})
	if err != nil {
		return err
	}
	var bfRows, bfMS int64
	if err := admin.QueryRow(ctx, `SELECT backfill_rows, duration_ms FROM bluegreen_schema_migrations WHERE name = '0001_split_address'`).Scan(&bfRows, &bfMS); err != nil {
		return fmt.Errorf("read the migration's history row: %w", err)
	}
	var left int64
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM customers WHERE street_address IS NULL`).Scan(&left); err != nil {
		return fmt.Errorf("count rows the backfill missed: %w", err)
	}
	if left != 0 {
		return fmt.Errorf("backfill left %d rows without street_address", left)
	}
	r.note = fmt.Sprintf("expand took %s (history: %d ms); the backfill updated %d rows: %.0f rows/s over the whole expand",
		r.took.Round(time.Millisecond), bfMS, bfRows, float64(bfRows)/r.took.Seconds())
	results = append(results, r)

	step("after: %s of writer load right after the backfill", c.after)
	r, err = measure(ctx, dbURL, c, "after", func(ctx context.Context) (string, error) {
		return "", sleep(ctx, c.after)
	})
	if err != nil {
		return err
	}
	results = append(results, r)
	if c.skipNaive {
		report(out, c, results)
		return nil
	}

	step("reseeding %d rows for the naive update", c.rows)
	if err := seed(ctx, admin, c.rows, true); err != nil {
		return err
	}
	step("baseline2: %s of writer load on the fresh table", c.baseline2)
	r, err = measure(ctx, dbURL, c, "baseline2", func(ctx context.Context) (string, error) {
		return "", sleep(ctx, c.baseline2)
	})
	if err != nil {
		return err
	}
	results = append(results, r)

	step("naive: one UPDATE of the whole table")
	r, err = measure(ctx, dbURL, c, "naive", func(ctx context.Context) (string, error) {
		tag, err := admin.Exec(ctx, `UPDATE customers SET
			street_address = split_part(address, ', ', 1),
			city           = split_part(address, ', ', 2),
			state          = split_part(split_part(address, ', ', 3), ' ', 1),
			zip_code       = split_part(split_part(address, ', ', 3), ' ', 2)`)
		if err != nil {
			return "", fmt.Errorf("naive update: %w", err)
		}
		return fmt.Sprintf("%d rows", tag.RowsAffected()), nil
	})
	if err != nil {
		return err
	}
	r.note = fmt.Sprintf("the UPDATE took %s (%s, %.0f rows/s)", r.took.Round(time.Millisecond), r.note, float64(c.rows)/r.took.Seconds())
	results = append(results, r)

	report(out, c, results)
	return nil
}

// createDatabase creates bluegreen_bench_<pid> on the server and returns
// its URL and a function that drops it.
func createDatabase(ctx context.Context, serverURL string) (string, func() error, error) {
	u, err := url.Parse(serverURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", nil, errors.New("-url: want a postgres:// URL") // the value may hold a password
	}
	name := fmt.Sprintf("bluegreen_bench_%d", os.Getpid())
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return "", nil, fmt.Errorf("connect to the server: %w", err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, errors.Join(fmt.Errorf("create database %s: %w", name, err), conn.Close(ctx))
	}
	if err := conn.Close(ctx); err != nil {
		return "", nil, fmt.Errorf("close server connection: %w", err)
	}
	u.Path = "/" + name
	drop := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, serverURL)
		if err != nil {
			return fmt.Errorf("drop database %s: connect: %w", name, err)
		}
		_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		return errors.Join(err, conn.Close(ctx))
	}
	return u.String(), drop, nil
}

// describeServer prints the server's version and the settings that matter
// for write latency.
func describeServer(ctx context.Context, conn *pgx.Conn, out io.Writer) error {
	var version string
	if err := conn.QueryRow(ctx, `SELECT version()`).Scan(&version); err != nil {
		return fmt.Errorf("read server version: %w", err)
	}
	fmt.Fprintf(out, "server: %s\n", version)
	var settings []string
	for _, name := range []string{"fsync", "synchronous_commit", "full_page_writes", "shared_buffers", "max_wal_size", "checkpoint_timeout"} {
		var v string
		if err := conn.QueryRow(ctx, `SELECT current_setting($1)`, name).Scan(&v); err != nil {
			return fmt.Errorf("read setting %s: %w", name, err)
		}
		settings = append(settings, name+"="+v)
	}
	fmt.Fprintf(out, "settings: %s\n", strings.Join(settings, " "))
	return nil
}

// seed (re)creates customers(id, address) with rows rows. withColumns adds
// the four new columns right away, as the naive approach does before its
// UPDATE; otherwise the migration's expand.sql adds them.
func seed(ctx context.Context, conn *pgx.Conn, rows int64, withColumns bool) error {
	stmts := []string{
		`DROP TABLE IF EXISTS customers`,
		`DROP FUNCTION IF EXISTS customers_dual_write()`,
		`CREATE TABLE customers (id bigint PRIMARY KEY, address text)`,
		fmt.Sprintf(`INSERT INTO customers (id, address)
			SELECT g, g || ' Main St, Springfield, IL ' || lpad((g %% 100000)::text, 5, '0')
			FROM generate_series(1, %d) g`, rows),
	}
	if withColumns {
		stmts = append(stmts, `ALTER TABLE customers ADD COLUMN street_address text, ADD COLUMN city text,
			ADD COLUMN state text, ADD COLUMN zip_code text`)
	}
	stmts = append(stmts, `VACUUM ANALYZE customers`, `CHECKPOINT`)
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("seed: %s: %w", firstLine(s), err)
		}
	}
	return nil
}

// Migration 0001_split_address, as in docs/migrations.md.
const (
	expandSQL = `-- 0001_split_address: split customers.address into four columns.
ALTER TABLE customers ADD COLUMN street_address text;
ALTER TABLE customers ADD COLUMN city text;
ALTER TABLE customers ADD COLUMN state text;
ALTER TABLE customers ADD COLUMN zip_code text;
CREATE FUNCTION customers_dual_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (TG_OP = 'INSERT' AND NEW.address IS NOT NULL AND NEW.street_address IS NULL)
     OR (TG_OP = 'UPDATE' AND NEW.address IS DISTINCT FROM OLD.address) THEN
    NEW.street_address := split_part(NEW.address, ', ', 1);
    NEW.city           := split_part(NEW.address, ', ', 2);
    NEW.state          := split_part(split_part(NEW.address, ', ', 3), ' ', 1);
    NEW.zip_code       := split_part(split_part(NEW.address, ', ', 3), ' ', 2);
  ELSIF (TG_OP = 'INSERT' AND NEW.street_address IS NOT NULL)
     OR (TG_OP = 'UPDATE' AND (NEW.street_address, NEW.city, NEW.state, NEW.zip_code)
         IS DISTINCT FROM (OLD.street_address, OLD.city, OLD.state, OLD.zip_code)) THEN
    NEW.address := NEW.street_address || ', ' || NEW.city || ', ' || NEW.state || ' ' || NEW.zip_code;
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER customers_dual_write BEFORE INSERT OR UPDATE ON customers
  FOR EACH ROW EXECUTE FUNCTION customers_dual_write();
`
	backfillSQL = `-- bluegreen: table=customers key=id
UPDATE customers SET
  street_address = split_part(address, ', ', 1),
  city           = split_part(address, ', ', 2),
  state          = split_part(split_part(address, ', ', 3), ' ', 1),
  zip_code       = split_part(split_part(address, ', ', 3), ' ', 2)
WHERE id >= :lo AND id < :hi AND street_address IS NULL AND address IS NOT NULL;
`
	contractSQL = "-- not run by the benchmark\nALTER TABLE customers DROP COLUMN address;\n"
)

// writeMigration writes the migration and a bluegreen.yaml pointing at it
// and at the database; it returns the config's path.
func writeMigration(work, dbURL string) (string, error) {
	dir := filepath.Join(work, "migrations", "0001_split_address")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	for name, text := range map[string]string{"expand.sql": expandSQL, "backfill.sql": backfillSQL, "contract.sql": contractSQL} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return "", fmt.Errorf("write %s: %w", name, err)
		}
	}
	cfg := fmt.Sprintf("app: bench\ndriver: { process: { command: [\"true\"] } }\nmigrations:\n  dir: migrations\n  database_url: %q\n", dbURL)
	path := filepath.Join(work, "bluegreen.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return path, nil
}

// runExpand runs `bluegreen migrate expand` with its progress in migrate.log.
func runExpand(ctx context.Context, c config, cfgPath string) (err error) {
	logPath := filepath.Join(c.work, "migrate.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("create %s: %w", logPath, err)
	}
	defer func() {
		if cerr := logFile.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	args := []string{"migrate", "-c", cfgPath}
	if c.batchSize > 0 {
		args = append(args, "-batch-size", fmt.Sprint(c.batchSize))
	}
	if c.batchTarget > 0 {
		args = append(args, "-batch-target", c.batchTarget.String())
	}
	if c.dutyCycle > 0 {
		args = append(args, "-duty-cycle", fmt.Sprint(c.dutyCycle))
	}
	if c.maxRate > 0 {
		args = append(args, "-max-rate", fmt.Sprint(c.maxRate))
	}
	args = append(args, "expand")
	cmd := exec.CommandContext(ctx, c.bluegreen, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("bluegreen %s: %w (see %s)", strings.Join(args, " "), err, logPath)
	}
	return nil
}

// phaseResult is the writer's latency during one phase.
type phaseResult struct {
	name      string
	took      time.Duration   // the phase's action
	service   []time.Duration // updates sent while the action ran
	scheduled []time.Duration // every slot due while the action ran, from its due time
	note      string
}

// measure runs the writer, lets it settle, runs action, lets it settle
// again, stops it and keeps the samples due while action ran.
func measure(ctx context.Context, dbURL string, c config, name string, action func(context.Context) (string, error)) (phaseResult, error) {
	w, err := startWriter(ctx, dbURL, c.rows, c.rate)
	if err != nil {
		return phaseResult{}, err
	}
	if err := sleep(ctx, c.settle); err != nil {
		return phaseResult{}, errors.Join(err, w.stop())
	}
	t0 := time.Now()
	note, aerr := action(ctx)
	t1 := time.Now()
	if aerr != nil {
		return phaseResult{}, errors.Join(aerr, w.stop())
	}
	if err := sleep(ctx, c.settle); err != nil {
		return phaseResult{}, errors.Join(err, w.stop())
	}
	if err := w.stop(); err != nil {
		return phaseResult{}, err
	}
	r := phaseResult{name: name, took: t1.Sub(t0), note: note}
	for _, s := range w.samples {
		if s.due.Before(t0) || s.due.After(t1) {
			continue
		}
		r.scheduled = append(r.scheduled, s.scheduled)
		if s.sent {
			r.service = append(r.service, s.service)
		}
	}
	return r, nil
}

// sample is one slot of the writer's schedule.
type sample struct {
	due       time.Time
	sent      bool          // an update was sent for this slot (false: skipped while blocked)
	service   time.Duration // sent: how long the UPDATE took
	scheduled time.Duration // from due to the end of the update that served or blocked it
}

// writer does rate single-row UPDATEs a second on one connection.
type writer struct {
	cancel  context.CancelFunc
	done    chan error
	samples []sample // read only after done
}

func startWriter(ctx context.Context, dbURL string, rows int64, rate int) (*writer, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, fmt.Errorf("writer: connect: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &writer{cancel: cancel, done: make(chan error, 1)}
	go func() {
		err := w.loop(ctx, conn, rows, time.Second/time.Duration(rate))
		if cerr := conn.Close(context.Background()); cerr != nil && err == nil {
			err = fmt.Errorf("writer: close: %w", cerr)
		}
		w.done <- err
	}()
	return w, nil
}

// loop sends one UPDATE per interval. When an UPDATE outlasts its slot,
// the slots it overran are not sent (one connection can't), but each is
// recorded with the latency it would have seen: from its due time to the
// end of the blocking UPDATE.
func (w *writer) loop(ctx context.Context, conn *pgx.Conn, rows int64, interval time.Duration) error {
	const q = `UPDATE customers SET address = $2 WHERE id = $1`
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	start := time.Now()
	for slot := int64(0); ; slot++ {
		due := start.Add(time.Duration(slot) * interval)
		if err := sleep(ctx, time.Until(due)); err != nil {
			return nil // stopped
		}
		id := rng.Int64N(rows) + 1
		addr := fmt.Sprintf("%d Main St, Springfield, IL %05d", id, rng.IntN(100000))
		sent := time.Now()
		_, err := conn.Exec(ctx, q, id, addr)
		end := time.Now()
		if err != nil {
			if ctx.Err() != nil {
				return nil // stopped mid-update
			}
			return fmt.Errorf("writer: update id %d: %w", id, err)
		}
		w.samples = append(w.samples, sample{due: due, sent: true, service: end.Sub(sent), scheduled: end.Sub(due)})
		for {
			next := start.Add(time.Duration(slot+1) * interval)
			if !next.Before(end) {
				break
			}
			slot++
			w.samples = append(w.samples, sample{due: next, scheduled: end.Sub(next)})
		}
	}
}

func (w *writer) stop() error {
	w.cancel()
	return <-w.done
}

// report prints the table of results.
func report(out io.Writer, c config, rs []phaseResult) {
	fmt.Fprintf(out, "\nwriter: %d single-row UPDATEs/s on one connection, %d rows\n\n", c.rate, c.rows)
	fmt.Fprintf(out, "%-10s %9s %8s %8s %8s %8s | %9s %9s %9s\n", "phase", "duration", "updates", "p50", "p99", "max", "sched p50", "sched p99", "sched max")
	byName := map[string]phaseResult{}
	for _, r := range rs {
		byName[r.name] = r
		fmt.Fprintf(out, "%-10s %9s %8d %8s %8s %8s | %9s %9s %9s\n", r.name, r.took.Round(time.Millisecond), len(r.service),
			ms(pct(r.service, 50)), ms(pct(r.service, 99)), ms(pct(r.service, 100)),
			ms(pct(r.scheduled, 50)), ms(pct(r.scheduled, 99)), ms(pct(r.scheduled, 100)))
	}
	fmt.Fprintln(out)
	for _, r := range rs {
		if r.note != "" {
			fmt.Fprintf(out, "%s: %s\n", r.name, r.note)
		}
	}
	base, bf, aft, base2, nv := byName["baseline"], byName["backfill"], byName["after"], byName["baseline2"], byName["naive"]
	fmt.Fprintf(out, "p99(backfill)/p99(baseline) = %.2f (service), %.2f (scheduled); target ≤ 2\n",
		ratio(pct(bf.service, 99), pct(base.service, 99)), ratio(pct(bf.scheduled, 99), pct(base.scheduled, 99)))
	// Not a second baseline: the backfill's dead row versions wake
	// autovacuum, which the writer feels here.
	fmt.Fprintf(out, "p99(after)/p99(baseline)    = %.2f (service), %.2f (scheduled)\n",
		ratio(pct(aft.service, 99), pct(base.service, 99)), ratio(pct(aft.scheduled, 99), pct(base.scheduled, 99)))
	if c.skipNaive {
		return
	}
	fmt.Fprintf(out, "p99(naive)/p99(baseline2)   = %.2f (service), %.2f (scheduled)\n",
		ratio(pct(nv.service, 99), pct(base2.service, 99)), ratio(pct(nv.scheduled, 99), pct(base2.scheduled, 99)))
	fmt.Fprintf(out, "naive: writer's longest UPDATE %s = %.0f%% of the naive UPDATE's %s; %d of %d due updates could not be sent\n",
		ms(pct(nv.service, 100)), 100*pct(nv.service, 100).Seconds()/nv.took.Seconds(), nv.took.Round(time.Millisecond),
		len(nv.scheduled)-len(nv.service), len(nv.scheduled))
}

// pct is the p-th percentile (nearest rank) of ds; 100 is the maximum.
func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func ms(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d >= 100*time.Millisecond:
		return fmt.Sprintf("%.0fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	}
}

func firstLine(s string) string {
	sc := bufio.NewScanner(strings.NewReader(strings.TrimSpace(s)))
	if sc.Scan() {
		return sc.Text()
	}
	return s
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
