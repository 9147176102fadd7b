package migrate

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/capture"
	"github.com/bluegreen-dev/bluegreen/internal/pgtest"
)

// The child half of TestMigrateBackfillKillProcess runs in a re-executed test
// binary, switched on by these environment variables.
const (
	killChildEnv = "BLUEGREEN_MIGRATE_KILL_CHILD" // "1" in the child
	killURLEnv   = "BLUEGREEN_MIGRATE_KILL_URL"   // the database to expand
	killBatchEnv = "BLUEGREEN_MIGRATE_KILL_BATCH" // keys per batch
	killPauseEnv = "BLUEGREEN_MIGRATE_KILL_PAUSE" // pause after the batch ending at this key

	killPausedLine = "child: paused"
)

// killWait bounds every wait of the test for the child or the server.
const killWait = 60 * time.Second

// TestMigrateBackfillKillProcess runs expand with its backfill in a separate
// process and SIGKILLs that process while a batch is in flight (its
// UPDATE ran on part of the batch's rows, inside the batch's open
// transaction), after three batches committed. A re-run in this process
// resumes at the first uncommitted batch, redoes none of the committed
// ones, and leaves the table identical, by checksum, to a database
// migrated without interruption.
//
// The point of the kill is fixed without timing: the child pauses after
// its third batch committed, this test takes a row lock in the middle of
// the fourth batch's key range and lets the child go on, so the child's
// fourth batch blocks on it; the test waits until the child's session
// shows that lock wait and the history says three batches committed, then
// kills.
func TestMigrateBackfillKillProcess(t *testing.T) {
	const (
		rows      = 5000
		batch     = 500 // 10 batches
		committed = 3   // batches committed before the kill
	)
	ctx := context.Background()
	set := load(t, filepath.Join("testdata", string(Postgres)))

	// The reference: the same rows, migrated without interruption.
	clean := openDB(t, Postgres)
	seedCustomers(t, clean, rows)
	var rec0 recorder
	var out0 capture.Buffer
	opts0 := testOptions(&rec0, &out0)
	opts0.BatchSize = batch
	if err := New(clean, set, opts0).Expand(ctx, ""); err != nil {
		t.Fatal(err)
	}
	want := tableChecksum(t, clean)

	url, db := openDBURL(t)
	seedCustomers(t, db, rows)

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := osexec.Command(exe, "-test.run=^TestMigrateKillChild$", "-test.v")
	cmd.Env = append(os.Environ(), killChildEnv+"=1", killURLEnv+"="+url,
		killBatchEnv+"="+strconv.Itoa(batch), killPauseEnv+"="+strconv.Itoa(1+committed*batch))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var childOut capture.Buffer
	cmd.Stderr = &childOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	paused := make(chan struct{})
	exited := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		said := false
		for sc.Scan() {
			fmt.Fprintln(&childOut, sc.Text())
			if sc.Text() == killPausedLine && !said {
				said = true
				close(paused)
			}
		}
		exited <- cmd.Wait() // after stdout is drained, as Wait requires
	}()
	killed := false
	t.Cleanup(func() {
		if !killed {
			if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
				t.Errorf("kill child: %v", err)
			}
			<-exited
		}
	})

	// The child pauses after its third batch committed (the expand
	// statements, which need ACCESS EXCLUSIVE on customers, are done by
	// then). Lock a row in the middle of the fourth batch [1501, 2001),
	// then let the child go on: its fourth batch updates 1501…1750 inside
	// its transaction and waits for row 1751.
	select {
	case <-paused:
	case err := <-exited:
		killed = true
		t.Fatalf("child ended before its third batch: %v\n%s", err, childOut.String())
	case <-time.After(killWait):
		t.Fatalf("child did not commit %d batches within %s\n%s", committed, killWait, childOut.String())
	}
	blockedID := 1 + committed*batch + batch/2
	holder, err := db.SQL().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	holderOpen := true
	release := func() {
		if holderOpen {
			holderOpen = false
			if err := holder.Rollback(); err != nil {
				t.Errorf("release row lock: %v", err)
			}
		}
	}
	t.Cleanup(release)
	if _, err := holder.ExecContext(ctx, `SELECT id FROM customers WHERE id = $1 FOR UPDATE`, blockedID); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		t.Fatal(err)
	}

	// Wait for the child's fourth batch to be waiting on our row lock.
	var childPID int64
	deadline := time.Now().Add(killWait)
	for {
		err := db.SQL().QueryRowContext(ctx, `SELECT pid FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid()
			  AND wait_event_type = 'Lock' AND query LIKE '%UPDATE customers SET%'`).Scan(&childPID)
		if err == nil {
			break
		}
		if !errors.Is(err, sql.ErrNoRows) {
			t.Fatal(err)
		}
		select {
		case err := <-exited:
			killed = true
			t.Fatalf("child ended before its backfill blocked: %v\n%s", err, childOut.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("child's backfill never blocked on row %d within %s\n%s", blockedID, killWait, childOut.String())
		}
	}
	next := queryString(t, db, `SELECT backfill_next FROM `+HistoryTable+` WHERE name = $1`, splitAddress)
	if want := strconv.Itoa(1 + committed*batch); next != want {
		t.Fatalf("history backfill_next = %s while batch 4 is in flight, want %s", next, want)
	}

	if err := cmd.Process.Kill(); err != nil { // SIGKILL on Unix
		t.Fatal(err)
	}
	killed = true
	select {
	case err := <-exited:
		if err == nil || cmd.ProcessState.Exited() {
			t.Fatalf("child was not killed by a signal: %v (%s)\n%s", err, cmd.ProcessState, childOut.String())
		}
	case <-time.After(killWait):
		t.Fatal("killed child did not exit")
	}

	// The child's session is orphaned: once our lock goes, its UPDATE
	// finishes, it finds the client gone, and its transaction (never
	// committed) rolls back. Wait until that session is gone.
	release()
	deadline = time.Now().Add(killWait)
	for {
		var n int
		if err := db.SQL().QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity WHERE pid = $1`, childPID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the killed child's session %d is still there after %s", childPID, killWait)
		}
		time.Sleep(20 * time.Millisecond) // polling the server; not a synchronisation with our own code
	}

	// Exactly the committed batches are done; the in-flight one left nothing.
	if got := queryString(t, db, `SELECT count(*) FROM customers WHERE street_address IS NOT NULL`); got != strconv.Itoa(committed*batch) {
		t.Fatalf("rows backfilled after the kill = %s, want %d (the in-flight batch must have rolled back)", got, committed*batch)
	}
	if got := phase(t, New(db, set, testOptions(&recorder{}, &capture.Buffer{})), splitAddress); got != PhaseExpanding {
		t.Fatalf("phase after the kill = %s, want %s", got, PhaseExpanding)
	}

	// Re-run here: it resumes at the first uncommitted batch.
	var rec recorder
	var out capture.Buffer
	opts := testOptions(&rec, &out)
	opts.BatchSize = batch
	opts.RunnerWait = killWait // the dead child's advisory lock goes with its session
	e := New(db, set, opts)
	if err := e.Expand(ctx, ""); err != nil {
		t.Fatalf("resume after SIGKILL: %v\n%s", err, out.String())
	}
	batches := rec.of(EventBatch)
	if len(batches) != rows/batch-committed {
		t.Fatalf("resumed run ran %d batches, want %d", len(batches), rows/batch-committed)
	}
	for i, ev := range batches {
		if wantLo := int64(1 + (committed+i)*batch); ev.Batch.Lo != wantLo {
			t.Fatalf("resumed batch %d covers [%d, %d), want it to start at %d (no committed batch redone)", i+1, ev.Batch.Lo, ev.Batch.Hi, wantLo)
		}
		if ev.Batch.Rows != batch {
			t.Errorf("resumed batch [%d, %d) updated %d rows, want %d", ev.Batch.Lo, ev.Batch.Hi, ev.Batch.Rows, batch)
		}
	}
	if steps := rec.of(EventStep); len(steps) != 0 {
		t.Errorf("resumed run re-ran %d expand statements; they had committed before the backfill", len(steps))
	}
	if got := phase(t, e, splitAddress); got != PhaseExpanded {
		t.Fatalf("phase after resume = %s, want %s", got, PhaseExpanded)
	}
	st, err := e.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st[0].Record.BackfillRows != rows {
		t.Errorf("recorded backfill rows = %d, want %d", st[0].Record.BackfillRows, rows)
	}
	if got := tableChecksum(t, db); got != want {
		t.Fatalf("table after SIGKILL and resume has checksum %s, an uninterrupted run %s", got, want)
	}
}

// TestMigrateKillChild is the child process of TestMigrateBackfillKillProcess;
// run directly it does nothing.
func TestMigrateKillChild(t *testing.T) {
	if os.Getenv(killChildEnv) != "1" {
		t.Skip("helper process of TestMigrateBackfillKillProcess")
	}
	batch, err := strconv.Atoi(os.Getenv(killBatchEnv))
	if err != nil {
		t.Fatal(err)
	}
	pauseAt, err := strconv.ParseInt(os.Getenv(killPauseEnv), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, err := Open(ctx, os.Getenv(killURLEnv))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close() //nolint:errcheck // the parent kills this process before it gets here
	opts := Options{
		LockTimeout: killWait, // wait on the parent's row lock until killed
		BatchSize:   batch,
		BatchTarget: time.Minute,
		DutyCycle:   1,
		Out:         os.Stdout,
		OnEvent: func(ev Event) {
			if ev.Kind != EventBatch {
				return
			}
			fmt.Printf("child: batch [%d, %d) committed\n", ev.Batch.Lo, ev.Batch.Hi)
			if ev.Batch.Hi == pauseAt {
				// Wait for the parent to set up the blocked fourth batch.
				fmt.Println(killPausedLine)
				if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
					fmt.Printf("child: read stdin: %v\n", err)
				}
			}
		},
	}
	err = New(db, load(t, filepath.Join("testdata", string(Postgres))), opts).Expand(ctx, "")
	t.Fatalf("child expand returned (%v); it should have been killed mid-backfill", err)
}

// openDBURL is openDB for PostgreSQL that also returns the database's URL,
// for a child process.
func openDBURL(t *testing.T) (string, *DB) {
	t.Helper()
	url := pgtest.URL(t)
	db, err := Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return url, db
}

// tableChecksum is md5 over every row of customers in key order, computed
// by the server.
func tableChecksum(t *testing.T, db *DB) string {
	t.Helper()
	return queryString(t, db, `SELECT md5(string_agg(concat_ws('|', id, coalesce(address, '<null>'), coalesce(street_address, '<null>'), coalesce(city, '<null>'), coalesce(state, '<null>'), coalesce(zip_code, '<null>')), E'\n' ORDER BY id)) FROM customers`)
}
