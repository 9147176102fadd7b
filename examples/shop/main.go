// Command shop is the example service bluegreen deploys in its tests and
// its demo: a small JSON shop whose versions differ visibly, with flags to
// simulate a bad release.
//
// Main flow: parse flags (defaults from the environment the process
// driver sets: PORT, BLUEGREEN_SLOT), listen, serve until SIGTERM or
// SIGINT, then shut down gracefully: in-flight requests finish, event
// streams end cleanly.
//
//	go build -o bin/shop ./examples/shop                                  # v1
//	go build -ldflags "-X main.buildVersion=v2" -o bin/shop-v2 ./examples/shop
//	shop --listen 127.0.0.1:3000 --version v2 --fail-rate 0.5 --latency 200ms
//	shop --version {version} --fail-rate 0.05 --bad-version v2   # only v2 fails
//	shop --version {version} --tool-error-rate 0.05 --bad-version v2   # v2's MCP tool calls fail in HTTP 200
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

// buildVersion is the default version, set at build time with
// -ldflags "-X main.buildVersion=v2". It is never written at run time.
var buildVersion string

// config is the shop's settings.
type config struct {
	listen          string
	version         string
	slot            string
	failRate        float64       // share of app requests answered 500
	latency         time.Duration // added to every app request
	toolErrorRate   float64       // share of MCP tool calls answered with isError: true
	badVersion      string        // if set, failRate, latency and toolErrorRate apply to this version only
	readyDelay      time.Duration // /health answers 503 until then
	shutdownTimeout time.Duration
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
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		log.Error("listen", "addr", cfg.listen, "error", err)
		return 1
	}
	s := newShop(cfg, ln.Addr(), time.Now)
	log.Info("shop listening", "addr", ln.Addr().String(), "version", cfg.version, "slot", cfg.slot)
	if err := serve(ctx, ln, s.handler(), s.stopStreams, cfg.shutdownTimeout, log); err != nil {
		log.Error("shop failed", "error", err)
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
	fs := flag.NewFlagSet("shop", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.listen, "listen", defListen, "address to listen on (default from $PORT)")
	fs.StringVar(&cfg.version, "version", defVersion, "version to report")
	fs.StringVar(&cfg.slot, "slot", getenv("BLUEGREEN_SLOT"), "slot to report (default $BLUEGREEN_SLOT)")
	fs.Float64Var(&cfg.failRate, "fail-rate", 0, "share of requests answered 500, 0 to 1 (simulates a bad release)")
	fs.DurationVar(&cfg.latency, "latency", 0, "delay added to every request but /health (simulates a slow release)")
	fs.Float64Var(&cfg.toolErrorRate, "tool-error-rate", 0, "share of MCP tool calls (POST /mcp) answered 200 with isError: true, 0 to 1")
	fs.StringVar(&cfg.badVersion, "bad-version", "", "apply --fail-rate, --latency and --tool-error-rate only when --version is this one (one command line for all versions)")
	fs.DurationVar(&cfg.readyDelay, "ready-delay", 0, "/health answers 503 starting until this long after start")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long in-flight requests get after SIGTERM")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch {
	case cfg.toolErrorRate < 0 || cfg.toolErrorRate > 1:
		return config{}, fmt.Errorf("--tool-error-rate %v: want a number from 0 to 1", cfg.toolErrorRate)
	case cfg.failRate < 0 || cfg.failRate > 1:
		return config{}, fmt.Errorf("--fail-rate %v: want a number from 0 to 1", cfg.failRate)
	case cfg.latency < 0 || cfg.readyDelay < 0 || cfg.shutdownTimeout < 0:
		return config{}, errors.New("--latency, --ready-delay and --shutdown-timeout must not be negative")
	case cfg.version == "":
		return config{}, errors.New("--version must not be empty")
	}
	if cfg.badVersion != "" && cfg.badVersion != cfg.version {
		cfg.failRate, cfg.latency, cfg.toolErrorRate = 0, 0, 0
	}
	return cfg, nil
}

// serve serves h on ln until ctx ends, then shuts down within timeout:
// the listener closes, onShutdown runs (it ends the event streams),
// in-flight requests finish.
func serve(ctx context.Context, ln net.Listener, h http.Handler, onShutdown func(), timeout time.Duration, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(onShutdown)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", timeout)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
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
