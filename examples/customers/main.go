// Command customers is the example app of bluegreen's expand/contract
// migrations: a tiny JSON customer registry whose two schema generations
// are the seed articles' address split.
//
//	--schema v1   reads and writes customers.address ("12 Main St, Springfield, IL 62701")
//	--schema v2   reads and writes street_address, city, state, zip_code
//
// Both run at once on one database once migration 0002_split_address is
// expanded: its trigger keeps the old and the new columns in step, so each
// generation reads what the other wrote. The migrations, for PostgreSQL
// and SQLite, are in migrations/postgres and migrations/sqlite.
//
// Main flow: parse flags (defaults from the environment: PORT,
// DATABASE_URL, CUSTOMERS_SCHEMA, BLUEGREEN_SLOT), open the database,
// listen, serve until SIGTERM or SIGINT, then shut down gracefully.
//
//	customers --listen 127.0.0.1:3000 --database sqlite:app.db --schema v1
//	customers --database postgres://… --schema {version}      # as a bluegreen process command
//
// HTTP:
//
//	GET  /health              {"status":"healthy","schema_ready":…} while the database answers
//	GET  /                    {"version","slot","schema"}
//	POST /customers           create: v1 {"name","address"}; v2 {"name","street_address","city","state","zip_code"}
//	GET  /customers/{id}      one customer in this generation's shape
//	PUT  /customers/{id}      update the address fields of this generation's shape
//	GET  /customers           every customer, by id
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// config is the app's settings.
type config struct {
	listen   string
	database string
	schema   string // v1 or v2
	version  string
	slot     string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program; it returns the exit code: 0 after a graceful
// stop, 1 on failure, 2 on bad usage.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			log.Error("bad usage", "error", err)
		}
		return 2
	}
	st, err := openStore(ctx, cfg.database, generation(cfg.schema))
	if err != nil {
		log.Error("open database", "error", err)
		return 1
	}
	defer func() {
		if err := st.close(); err != nil {
			log.Error("close database", "error", err)
		}
	}()
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		log.Error("listen", "addr", cfg.listen, "error", err)
		return 1
	}
	a := &app{cfg: cfg, store: st, log: log}
	log.Info("customers listening", "addr", ln.Addr().String(), "version", cfg.version, "schema", cfg.schema, "slot", cfg.slot, "database", st.dialect)
	if err := serve(ctx, ln, a.handler(), log); err != nil {
		log.Error("customers failed", "error", err)
		return 1
	}
	return 0
}

// parseConfig reads flags; defaults come from getenv.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	defListen := "127.0.0.1:8000"
	if port := getenv("PORT"); port != "" {
		defListen = net.JoinHostPort("127.0.0.1", port)
	}
	defSchema := getenv("CUSTOMERS_SCHEMA")
	if defSchema == "" {
		defSchema = "v1"
	}
	var cfg config
	fs := flag.NewFlagSet("customers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.listen, "listen", defListen, "address to listen on (default from $PORT)")
	fs.StringVar(&cfg.database, "database", getenv("DATABASE_URL"), "postgres://… or sqlite:path (default $DATABASE_URL)")
	fs.StringVar(&cfg.schema, "schema", defSchema, "schema generation: v1 (address) or v2 (street_address, city, state, zip_code); default $CUSTOMERS_SCHEMA or v1")
	fs.StringVar(&cfg.version, "version", "", "version to report (default: the schema generation)")
	fs.StringVar(&cfg.slot, "slot", getenv("BLUEGREEN_SLOT"), "slot to report (default $BLUEGREEN_SLOT)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch {
	case cfg.schema != "v1" && cfg.schema != "v2":
		return config{}, fmt.Errorf("--schema %q: want v1 or v2", cfg.schema)
	case cfg.database == "":
		return config{}, errors.New("--database (or $DATABASE_URL) is required: postgres://… or sqlite:path")
	}
	if cfg.version == "" {
		cfg.version = cfg.schema
	}
	return cfg, nil
}

// serve serves h on ln until ctx ends, then lets in-flight requests finish.
func serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	}
	log.Info("stopped")
	return nil
}
