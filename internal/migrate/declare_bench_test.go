package migrate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/pgtest"
)

// BenchmarkBackfillOpsVsSQL expands the address split on a table of
// BLUEGREEN_BENCH_ROWS rows (default 1,000,000) twice in one run — once
// from the hand-written SQL files (testdata/postgres), once from ops.yaml —
// with the engine's default throttle, while a writer updates random rows
// at 200/s. It reports the backfill's rows/s and the writer's p99. One
// iteration is the whole expand: run it with -benchtime 1x.
//
//	go test -run '^$' -bench BackfillOpsVsSQL -benchtime 1x ./internal/migrate
func BenchmarkBackfillOpsVsSQL(b *testing.B) {
	rows := 1_000_000
	if s := os.Getenv("BLUEGREEN_BENCH_ROWS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("BLUEGREEN_BENCH_ROWS=%q: want a number of rows", s)
		}
		rows = n
	}
	for _, kind := range []string{"sql", "ops"} {
		b.Run(kind, func(b *testing.B) {
			for range b.N {
				benchExpand(b, kind, rows)
			}
		})
	}
}

func benchExpand(b *testing.B, kind string, rows int) {
	b.StopTimer()
	ctx := context.Background()
	db, err := Open(ctx, pgtest.URL(b))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close() //nolint:errcheck // a benchmark's connection
	for _, q := range []string{
		`CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL, address text)`,
		fmt.Sprintf(`INSERT INTO customers SELECT g, 'c' || g, g || ' Main St, Springfield, IL ' || lpad(g::text, 5, '0') FROM generate_series(1, %d) g`, rows),
		`VACUUM ANALYZE customers`,
	} {
		if _, err := db.SQL().ExecContext(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	dir := b.TempDir()
	mdir := filepath.Join(dir, "0001_split_address")
	if err := os.MkdirAll(mdir, 0o755); err != nil {
		b.Fatal(err)
	}
	files := map[string]string{FileOps: splitOps}
	if kind == "sql" {
		files = map[string]string{}
		for _, f := range []string{"expand.sql", "backfill.sql", "validate.sql", "contract.sql", "restore.sql"} {
			data, err := os.ReadFile(filepath.Join("testdata", "postgres", "0001_split_address", f))
			if err == nil {
				files[f] = string(data)
			}
		}
	}
	for f, text := range files {
		if err := os.WriteFile(filepath.Join(mdir, f), []byte(text), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	set, err := Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	e := New(db, set, Options{By: "bench@host"})

	var mu sync.Mutex
	var lat []time.Duration
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond) // 200/s
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			id := (i*7919)%rows + 1
			t0 := time.Now()
			if _, err := db.SQL().ExecContext(ctx, `UPDATE customers SET name = name || '' WHERE id = $1`, id); err != nil {
				b.Errorf("writer: %v", err)
				return
			}
			mu.Lock()
			lat = append(lat, time.Since(t0))
			mu.Unlock()
		}
	}()
	b.StartTimer()
	t0 := time.Now()
	if err := e.Expand(ctx, ""); err != nil {
		b.Fatal(err)
	}
	took := time.Since(t0)
	b.StopTimer()
	close(done)
	wg.Wait()
	var left int
	if err := db.SQL().QueryRowContext(ctx, `SELECT count(*) FROM customers WHERE street_address IS NULL`).Scan(&left); err != nil {
		b.Fatal(err)
	}
	if left != 0 {
		b.Fatalf("%d rows left without street_address", left)
	}
	slices.Sort(lat)
	p := func(q float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(rows)/took.Seconds(), "rows/s")
	b.ReportMetric(p(0.50), "writer-p50-ms")
	b.ReportMetric(p(0.99), "writer-p99-ms")
	b.ReportMetric(float64(len(lat)), "writes")
}
