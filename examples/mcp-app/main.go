// Command mcp-app is the example MCP server bluegreen deploys in its check
// tests: a clinic's appointments behind a ChatGPT app, built with the
// official Go SDK, served over Streamable HTTP at /mcp, with a widget
// resource (text/html+skybridge) and /health reporting the database.
//
// Main flow: parse flags, open the SQLite database and create or check its
// schema, build the MCP server for the version (v1, or v2 with an optional
// date argument and a structured address), listen, serve until SIGTERM or
// SIGINT, then shut down gracefully.
//
//	go build -o bin/mcp-app ./examples/mcp-app
//	mcp-app --listen 127.0.0.1:3000 --version v2 --stateless
//	mcp-app --version v2 --break remove-tool     # a release that fails its checks
//
// --break takes a comma-separated list: remove-tool (get_customer is
// gone), tool-error (search_appointments answers isError), require-arg
// (search_appointments newly requires date: a breaking schema change),
// widget-throws (the widget throws in the browser).
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
	"slices"
	"strings"
	"syscall"
	"time"
)

// buildVersion is the default version, set at build time with
// -ldflags "-X main.buildVersion=v2". It is never written at run time.
var buildVersion string

// breakage is one deliberate fault of a broken release.
type breakage string

// The --break values.
const (
	breakRemoveTool   breakage = "remove-tool"
	breakToolError    breakage = "tool-error"
	breakRequireArg   breakage = "require-arg"
	breakWidgetThrows breakage = "widget-throws"
)

// config is the app's settings.
type config struct {
	listen    string
	version   string // v1 or v2
	slot      string
	stateless bool
	db        string // SQLite path; "" is a private in-memory database
	breaks    []breakage
}

func (c config) broken(b breakage) bool { return slices.Contains(c.breaks, b) }

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
	a, err := newApp(ctx, cfg, log)
	if err != nil {
		log.Error("start", "error", err)
		return 1
	}
	defer func() {
		if err := a.close(); err != nil {
			log.Error("close database", "error", err)
		}
	}()
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		log.Error("listen", "addr", cfg.listen, "error", err)
		return 1
	}
	log.Info("mcp-app listening", "addr", ln.Addr().String(), "version", cfg.version, "slot", cfg.slot, "stateless", cfg.stateless, "break", cfg.breaks)
	if err := serve(ctx, ln, a.handler(), log); err != nil {
		log.Error("mcp-app failed", "error", err)
		return 1
	}
	return 0
}

// parseConfig reads flags; defaults come from getenv and buildVersion.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	defListen := "127.0.0.1:8000"
	if port := getenv("PORT"); port != "" {
		defListen = net.JoinHostPort("127.0.0.1", port)
	}
	defVersion := buildVersion
	if defVersion == "" {
		defVersion = "v1"
	}
	var cfg config
	var breaks string
	fs := flag.NewFlagSet("mcp-app", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.listen, "listen", defListen, "address to listen on (default from $PORT)")
	fs.StringVar(&cfg.version, "version", defVersion, "v1, or v2 (optional date argument, structured address)")
	fs.StringVar(&cfg.slot, "slot", getenv("BLUEGREEN_SLOT"), "slot to report (default $BLUEGREEN_SLOT)")
	fs.BoolVar(&cfg.stateless, "stateless", false, "serve MCP without sessions (no Mcp-Session-Id)")
	fs.StringVar(&cfg.db, "db", getenv("DATABASE_PATH"), "SQLite database file (default $DATABASE_PATH; empty: in memory)")
	fs.StringVar(&breaks, "break", "", "comma-separated faults: remove-tool, tool-error, require-arg, widget-throws")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if cfg.version != "v1" && cfg.version != "v2" {
		return config{}, fmt.Errorf("--version %q: want v1 or v2", cfg.version)
	}
	for _, b := range strings.Split(breaks, ",") {
		switch b := breakage(strings.TrimSpace(b)); b {
		case "":
		case breakRemoveTool, breakToolError, breakRequireArg, breakWidgetThrows:
			cfg.breaks = append(cfg.breaks, b)
		default:
			return config{}, fmt.Errorf("--break %q: want remove-tool, tool-error, require-arg or widget-throws", b)
		}
	}
	return cfg, nil
}

// serve serves h on ln until ctx ends, then shuts down gracefully.
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
	return nil
}
