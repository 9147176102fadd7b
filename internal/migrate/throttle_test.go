package migrate

import (
	"context"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/capture"
)

// TestMigrateThrottleRules: the three rules of the backfill throttle, and
// that the longest pause wins.
func TestMigrateThrottleRules(t *testing.T) {
	ms := time.Millisecond
	// Duty cycle 0.25: a 40ms batch is followed by 120ms of pause.
	th := throttle{limit: 1000, size: 1000, target: 200 * ms, duty: 0.25}
	if p := th.after(40*ms, 1000, 40*ms); p != 120*ms || th.size != 1000 {
		t.Errorf("duty 0.25 after 40ms: pause %s, size %d; want 120ms, 1000", p, th.size)
	}
	// A slow batch halves the size; with duty 0.5 the pause equals the batch.
	th = throttle{limit: 1000, size: 1000, target: 200 * ms, duty: 0.5}
	if p := th.after(300*ms, 1000, 300*ms); p != 300*ms || th.size != 500 {
		t.Errorf("slow batch: pause %s, size %d; want 300ms, 500", p, th.size)
	}
	// A fast batch lets it grow back, up to the limit.
	if th.after(10*ms, 1500, 320*ms); th.size != 1000 {
		t.Errorf("fast batch: size %d, want 1000", th.size)
	}
	// Duty 1 never pauses a fast batch.
	th = throttle{limit: 1000, size: 1000, target: 200 * ms, duty: 1}
	if p := th.after(40*ms, 1000, 40*ms); p != 0 {
		t.Errorf("duty 1: pause %s, want 0", p)
	}
	// Rate cap: 1000 rows at 5000 rows/s are due at 200ms; 50ms have passed.
	th = throttle{limit: 1000, size: 1000, target: 200 * ms, duty: 1, maxRate: 5000}
	if p := th.after(50*ms, 1000, 50*ms); p != 150*ms {
		t.Errorf("rate cap: pause %s, want 150ms", p)
	}
	// The cap binds only when it is the longest wait; no pause is endless.
	th = throttle{limit: 1000, size: 1000, target: 200 * ms, duty: 0.01, maxRate: 1e9}
	if p := th.after(time.Second, 1000, time.Second); p != maxPause {
		t.Errorf("duty 0.01 after 1s: pause %s, want the %s bound", p, maxPause)
	}
}

// TestMigrateBackfillDutyCycle: with a duty cycle of 0.5 every batch but
// the last is followed by a pause as long as the batch.
func TestMigrateBackfillDutyCycle(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, SQLite)
	seedCustomers(t, db, 1200)
	var rec recorder
	var out capture.Buffer
	opts := testOptions(&rec, &out)
	opts.DutyCycle = 0.5
	if err := New(db, load(t, copyDir(t, SQLite)), opts).Expand(ctx, ""); err != nil {
		t.Fatal(err)
	}
	b := rec.of(EventBatch)
	if len(b) != 3 {
		t.Fatalf("%d batches, want 3", len(b))
	}
	for _, ev := range b {
		if ev.Batch.Pause != ev.Batch.Took {
			t.Errorf("batch [%d, %d): took %s, paused %s; want equal", ev.Batch.Lo, ev.Batch.Hi, ev.Batch.Took, ev.Batch.Pause)
		}
	}
}
