package migrate

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/bluegreen-dev/bluegreen/internal/capture"
)

// TestMigrateEventLog: the engine logs phase changes and refused
// contracts in the events table; a Watcher (as serve runs it) reports the
// ones logged after its first poll and keeps bluegreen_migration_state in
// step with the history.
func TestMigrateEventLog(t *testing.T) {
	dialects(t, func(t *testing.T, d Dialect) {
		ctx := context.Background()
		db := openDB(t, d)
		seedCustomers(t, db, 10)
		var rec recorder
		var out capture.Buffer
		set := load(t, copyDir(t, d))
		e := New(db, set, testOptions(&rec, &out))

		reg := prometheus.NewRegistry()
		m, err := NewMetrics(reg)
		if err != nil {
			t.Fatal(err)
		}
		w := NewWatcher(db, set, m)
		// Before any migration ran: no tables, no events, pending.
		evs, err := w.Poll(ctx)
		if err != nil || len(evs) != 0 {
			t.Fatalf("first poll: %v, %v", evs, err)
		}
		if st := w.Status(); len(st) != 1 || st[0].Phase != PhasePending {
			t.Fatalf("status before expand: %+v", st)
		}

		if err := e.Expand(ctx, ""); err != nil {
			t.Fatal(err)
		}
		refuse := func(context.Context, string) error { return errors.New("slot blue runs release v1 (warm)") }
		if err := e.Contract(ctx, "", ContractOptions{Gate: refuse}); err == nil {
			t.Fatal("contract passed a refusing gate")
		}

		evs, err = w.Poll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ev := range evs {
			got = append(got, string(ev.Kind)+":"+string(ev.Phase))
			if ev.Migration != splitAddress || ev.By != "test@host" || ev.ID == 0 || ev.Time.IsZero() {
				t.Errorf("event %+v", ev)
			}
		}
		if strings.Join(got, " ") != "phase:expanding phase:expanded refused:" {
			t.Fatalf("events = %v", got)
		}
		if !strings.Contains(evs[1].Message, "steps, backfill 10 rows)") || !strings.Contains(string(evs[1].Data), `"backfill_rows":10`) {
			t.Errorf("expanded event: %q %s", evs[1].Message, evs[1].Data)
		}
		if !strings.Contains(evs[2].Message, "slot blue runs release v1") {
			t.Errorf("refused event message %q", evs[2].Message)
		}
		if v := testutil.ToFloat64(m.state.WithLabelValues(splitAddress, string(PhaseExpanded))); v != 1 {
			t.Errorf("bluegreen_migration_state expanded = %v", v)
		}
		if v := testutil.ToFloat64(m.state.WithLabelValues(splitAddress, string(PhasePending))); v != 0 {
			t.Errorf("bluegreen_migration_state pending = %v", v)
		}
		// Nothing new: nothing reported twice.
		if evs, err := w.Poll(ctx); err != nil || len(evs) != 0 {
			t.Fatalf("third poll: %v, %v", evs, err)
		}
		// A watcher started now reports only what happens from now on.
		if evs, err := NewWatcher(db, set, nil).Poll(ctx); err != nil || len(evs) != 0 {
			t.Fatalf("a new watcher's first poll: %v, %v", evs, err)
		}
		all, err := ReadEvents(ctx, db, 0, 0)
		if err != nil || len(all) != 3 {
			t.Fatalf("ReadEvents: %d events, %v", len(all), err)
		}
	})
}
