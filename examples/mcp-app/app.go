package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	_ "modernc.org/sqlite" // the database/sql driver "sqlite"
)

// widgetURI is the widget template's resource.
const widgetURI = "ui://widget/appointments.html"

// skybridge is the MIME type ChatGPT expects of a widget template.
const skybridge = "text/html+skybridge"

// expectedColumns is the schema this release needs of table.
func expectedColumns(table string) []string {
	switch table {
	case "customers":
		return []string{"id", "name", "street", "city", "zip"}
	case "appointments":
		return []string{"id", "user_id", "doctor", "at"}
	}
	return nil
}

// app is one running release: its database and its MCP server.
type app struct {
	cfg config
	db  *sql.DB
	mcp *mcp.Server
	log *slog.Logger
}

func newApp(ctx context.Context, cfg config, log *slog.Logger) (*app, error) {
	dsn := cfg.db
	if dsn == "" {
		dsn = ":memory:"
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", dsn, err)
	}
	db.SetMaxOpenConns(1) // one connection keeps an in-memory database alive
	if err := seed(ctx, db); err != nil {
		return nil, errors.Join(fmt.Errorf("seed database %s: %w", dsn, err), db.Close())
	}
	a := &app{cfg: cfg, db: db, log: log}
	a.mcp = a.server()
	return a, nil
}

func (a *app) close() error { return a.db.Close() }

// seed creates the tables when missing and adds demo rows once.
func seed(ctx context.Context, db *sql.DB) error {
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS customers (id TEXT PRIMARY KEY, name TEXT NOT NULL, street TEXT, city TEXT, zip TEXT)`,
		`CREATE TABLE IF NOT EXISTS appointments (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, doctor TEXT NOT NULL, at TEXT NOT NULL)`,
		`INSERT OR IGNORE INTO customers VALUES ('t1', 'Ada Lovelace', '12 St James''s Square', 'London', 'SW1Y 4JH'), ('t2', 'Alan Turing', '2 Adlington Road', 'Wilmslow', 'SK9 4LZ')`,
		`INSERT OR IGNORE INTO appointments VALUES ('a1', 't1', 'Dr. Lee', '2026-03-02T09:00'), ('a2', 't1', 'Dr. Ng', '2026-03-05T14:30'), ('a3', 't2', 'Dr. Lee', '2026-03-02T11:00')`,
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

func (a *app) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/mcp", mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return a.mcp },
		&mcp.StreamableHTTPOptions{Stateless: a.cfg.stateless}))
	mux.HandleFunc("GET /health", a.health)
	mux.HandleFunc("GET /widget-test", a.widgetTest)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"app": "mcp-app", "version": a.cfg.version, "slot": a.cfg.slot})
	})
	return mux
}

// health reports the database: reachable, and the columns this release
// needs exist. 503 when not.
func (a *app) health(w http.ResponseWriter, r *http.Request) {
	out := map[string]any{"status": "healthy", "version": a.cfg.version, "slot": a.cfg.slot, "database": "ok", "schema": "compatible"}
	code := http.StatusOK
	if err := a.db.PingContext(r.Context()); err != nil {
		out["status"], out["database"] = "unhealthy", err.Error()
		writeJSON(w, http.StatusServiceUnavailable, out)
		return
	}
	if missing, err := a.missingColumns(r.Context()); err != nil {
		out["status"], out["schema"] = "unhealthy", err.Error()
		code = http.StatusServiceUnavailable
	} else if len(missing) > 0 {
		out["status"], out["schema"] = "unhealthy", "missing columns: "+strings.Join(missing, ", ")
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, out)
}

func (a *app) missingColumns(ctx context.Context) ([]string, error) {
	var missing []string
	for _, table := range []string{"appointments", "customers"} {
		rows, err := a.db.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, table)
		if err != nil {
			return nil, fmt.Errorf("read columns of %s: %w", table, err)
		}
		var have []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				return nil, errors.Join(fmt.Errorf("read columns of %s: %w", table, err), rows.Close())
			}
			have = append(have, n)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return nil, fmt.Errorf("read columns of %s: %w", table, err)
		}
		for _, c := range expectedColumns(table) {
			if !slices.Contains(have, c) {
				missing = append(missing, table+"."+c)
			}
		}
	}
	return missing, nil
}

// widgetTest serves the widget with a minimal window.openai, for a
// browser check by path.
func (a *app) widgetTest(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	stub := `<script>window.openai = {toolOutput: {count: 1, appointments: [{id: "a1", doctor: "Dr. Lee", at: "2026-03-02T09:00"}]}, callTool: async () => ({})};</script>`
	_, _ = fmt.Fprint(w, strings.Replace(a.widgetHTML(), "<head>", "<head>"+stub, 1)) // a client gone is not an error here
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // the client going away is not the app's error
}
