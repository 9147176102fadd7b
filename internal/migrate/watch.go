package migrate

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// Watcher follows, from another process, the migrations that `bluegreen
// migrate` runs: it reads the history table (for the metric and a status
// snapshot) and the events table (for new events), and never writes. serve
// runs one. It creates nothing: a database where no migration ever ran
// simply has no rows.
type Watcher struct {
	db      *DB
	set     Set // the directory's migrations; nil: history only
	metrics *Metrics

	mu      sync.Mutex
	started bool  // the first poll has run
	last    int64 // newest event id seen
	status  []Summary
}

// Summary is one migration as serve's status shows it.
type Summary struct {
	Name         string    `json:"name"`
	Phase        Phase     `json:"phase"`
	Step         int       `json:"step,omitempty"`
	BackfillRows int64     `json:"backfill_rows,omitempty"`
	UpdatedAt    time.Time `json:"updated_at,omitzero"`
	By           string    `json:"by,omitempty"`
	// Missing: in the history, not in the migrations directory.
	Missing bool `json:"missing,omitempty"`
}

// NewWatcher returns a Watcher of db; set lists the migrations that are
// pending until they show up in the history, m (nil-safe) gets
// bluegreen_migration_state.
func NewWatcher(db *DB, set Set, m *Metrics) *Watcher {
	return &Watcher{db: db, set: set, metrics: m}
}

// Poll reads the history and returns the events logged since the last
// poll. The first poll returns none: it marks where the log ends, so a
// server reports what happens while it runs.
func (w *Watcher) Poll(ctx context.Context) ([]LoggedEvent, error) {
	st, err := w.summaries(ctx)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	started, after := w.started, w.last
	w.mu.Unlock()
	var evs []LoggedEvent
	if !started {
		if after, err = lastEventID(ctx, w.db); err != nil {
			return nil, err
		}
	} else if evs, err = ReadEvents(ctx, w.db, after, 1000); err != nil {
		return nil, err
	}
	if n := len(evs); n > 0 {
		after = evs[n-1].ID
	}
	for _, s := range st {
		w.metrics.set(s.Name, s.Phase)
	}
	w.mu.Lock()
	w.started, w.last, w.status = true, after, st
	w.mu.Unlock()
	return evs, nil
}

// Status is the snapshot of the last successful poll, by name.
func (w *Watcher) Status() []Summary {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Summary(nil), w.status...)
}

// Run polls every interval until ctx ends and passes each new event to
// publish. A failed poll (the database is down, say) is logged and tried
// again at the next tick; Run returns nil when ctx ends.
func (w *Watcher) Run(ctx context.Context, every time.Duration, publish func(LoggedEvent), log *slog.Logger) error {
	t := time.NewTicker(every)
	defer t.Stop()
	failing := false
	for {
		evs, err := w.Poll(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			log.Warn("read migration history", "err", err)
			failing = true
		case err == nil && failing:
			log.Info("read migration history again")
			failing = false
		}
		for _, ev := range evs {
			publish(ev)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// summaries is every migration of the directory and the history.
func (w *Watcher) summaries(ctx context.Context) ([]Summary, error) {
	ok, err := tableExists(ctx, w.db, HistoryTable)
	if err != nil {
		return nil, err
	}
	hist := map[string]*Record{}
	if ok {
		if hist, err = readHistory(ctx, w.db, w.db.sql); err != nil {
			return nil, fmt.Errorf("watch migrations: %w", err)
		}
	}
	var out []Summary
	for _, m := range w.set {
		out = append(out, summary(m.Name, hist[m.Name]))
	}
	for n, r := range hist {
		if w.set.Get(n) == nil {
			s := summary(n, r)
			s.Missing = true
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func summary(name string, r *Record) Summary {
	if r == nil {
		return Summary{Name: name, Phase: PhasePending}
	}
	return Summary{Name: name, Phase: r.Phase, Step: r.Step, BackfillRows: r.BackfillRows, UpdatedAt: r.UpdatedAt, By: r.AppliedBy}
}
