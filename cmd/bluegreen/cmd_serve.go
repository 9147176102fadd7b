package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/daemon"
	"github.com/bluegreen-dev/bluegreen/internal/gcfloor"
)

func cmdServe(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "serve", "[-c FILE] [--log-level debug|info|warn|error] [--log-format text|json]")
	file := fs.String("c", "bluegreen.yaml", "config file")
	level := fs.String("log-level", envOr(e, "BLUEGREEN_LOG_LEVEL", "info"), "log level: debug, info, warn or error")
	format := fs.String("log-format", envOr(e, "BLUEGREEN_LOG_FORMAT", "text"), "log format: text or json")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	log, err := newLogger(e, *level, *format)
	if err != nil {
		return usageErr("%v", err)
	}
	cfg, err := config.Load(*file)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	exe, err := startedFrom()
	if err != nil {
		return err
	}
	srv, err := daemon.Start(ctx, cfg, log)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	defer startGCFloor(e, cfg, log).Stop()
	// SIGUSR2 replaces this serve by the binary now at its path, with the
	// same arguments, without a dropped request (docs/operations.md).
	handoff := make(chan os.Signal, 1)
	signal.Notify(handoff, syscall.SIGUSR2)
	defer signal.Stop(handoff)
	srv.EnableHandoff(handoff, exe, append([]string{"serve"}, args...))
	if err := srv.Run(ctx); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// startedFrom is the absolute path this binary was started from (its
// argv[0], looked up in PATH when it has no slash): the handoff runs what
// is at that path then, so a binary replaced there is the one that takes
// over. /proc/self/exe would follow the old file if it were renamed.
func startedFrom() (string, error) {
	name := os.Args[0]
	if !strings.Contains(name, "/") {
		p, err := exec.LookPath(name)
		if err != nil {
			return os.Executable()
		}
		name = p
	}
	abs, err := filepath.Abs(name)
	if err != nil {
		return "", fmt.Errorf("find this binary's path: %w", err)
	}
	return abs, nil
}

// startGCFloor applies runtime.gc_heap_floor, unless GOGC in the
// environment says how the collector runs (the operator's choice wins).
func startGCFloor(e *env, cfg *config.Config, log *slog.Logger) *gcfloor.Floor {
	floor := cfg.Runtime.GCHeapFloor
	if v := e.getenv("GOGC"); v != "" && floor > 0 {
		log.Info("GOGC is set: runtime.gc_heap_floor not applied", slog.String("GOGC", v), slog.String("gc_heap_floor", floor.String()))
		floor = 0
	}
	return gcfloor.Start(floor.Bytes())
}

func envOr(e *env, key, def string) string {
	if v := e.getenv(key); v != "" {
		return v
	}
	return def
}

func newLogger(e *env, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(e.stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(e.stderr, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
}
