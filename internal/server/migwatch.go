package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/migrate"
)

// migrationPoll is how often serve reads the migration history and event
// log of migrations.database_url.
const migrationPoll = 2 * time.Second

// migrationWatch shows on serve's surface what `bluegreen migrate` does.
// Migrations run from the CLI, in another process, against the app's
// database; the engine records each phase change (and refused or forced
// contracts, lock timeouts) in bluegreen_migration_events beside its
// history table. serve polls both: the history sets
// bluegreen_migration_state{migration,phase} in serve's registry, and
// each new logged event goes to the subscribers of the admin API's event
// stream as "event: migration". Polling keeps serve read-only on the app's
// database and needs nothing shared but that database; the cost is up to
// migrationPoll of delay.
type migrationWatch struct {
	cfg     *config.Config
	log     *slog.Logger
	metrics *migrate.Metrics

	mu     sync.Mutex
	subs   map[int]chan any
	nextID int
}

// newMigrationWatch registers the migration metric on reg. It returns nil
// (and registers nothing) when the app has no migrations.database_url.
func newMigrationWatch(cfg *config.Config, reg prometheus.Registerer, log *slog.Logger) (*migrationWatch, error) {
	if cfg.Migrations.DatabaseURL == "" {
		return nil, nil
	}
	m, err := migrate.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &migrationWatch{cfg: cfg, log: log, metrics: m, subs: map[int]chan any{}}, nil
}

// run polls until ctx ends. The database may be down or the migrations
// directory missing at start: both are logged and tried again.
func (w *migrationWatch) run(ctx context.Context) error {
	var (
		db      *migrate.DB
		watcher *migrate.Watcher
		said    bool
	)
	defer func() {
		if db != nil {
			if err := db.Close(); err != nil {
				w.log.Warn("close migrations database", "err", err)
			}
		}
	}()
	t := time.NewTicker(migrationPoll)
	defer t.Stop()
	for {
		if watcher == nil {
			set, err := migrate.Load(w.cfg.MigrationsDir())
			if err != nil {
				set = nil // the history alone still tells the phases
			}
			d, err := migrate.Open(ctx, w.cfg.Migrations.DatabaseURL)
			switch {
			case err == nil:
				db, watcher = d, migrate.NewWatcher(d, set, w.metrics)
			case ctx.Err() == nil && !said:
				w.log.Warn("watch migrations: open migrations.database_url", "err", err)
				said = true
			}
		}
		if watcher != nil {
			evs, err := watcher.Poll(ctx)
			if err != nil && ctx.Err() == nil && !said {
				w.log.Warn("watch migrations: read the history", "err", err)
				said = true
			} else if err == nil {
				said = false
			}
			for _, ev := range evs {
				w.log.Info("migration event", "migration", ev.Migration, "op", string(ev.Op), "kind", string(ev.Kind), "phase", string(ev.Phase), "message", ev.Message)
				w.publish(ev)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// subscribe streams migration events (migrate.LoggedEvent values) until
// cancel is called. A subscriber that does not keep up misses events.
func (w *migrationWatch) subscribe(buffer int) (<-chan any, func()) {
	ch := make(chan any, max(buffer, 1))
	w.mu.Lock()
	id := w.nextID
	w.nextID++
	w.subs[id] = ch
	w.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			w.mu.Lock()
			delete(w.subs, id)
			w.mu.Unlock()
			close(ch)
		})
	}
}

func (w *migrationWatch) publish(ev migrate.LoggedEvent) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ch := range w.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

// migrationEvents is web.Options.MigrationEvents: nil without migrations.
func (s *Server) migrationEvents() func(int) (<-chan any, func()) {
	if s.migrations == nil {
		return nil
	}
	return s.migrations.subscribe
}
