// Command backend is the benchmark's upstream: it answers every GET / with
// the same ~100-byte body, as cheaply as net/http allows, so that the
// numbers measure the proxy in front of it and not the application.
//
// Usage: backend [-listen 127.0.0.1:18080] [-procs N]
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

// body is the fixed response: 100 bytes including the trailing newline.
const body = "bluegreen bench backend: a fixed response body of one hundred bytes, padded to length with x's xxxx\n"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "backend:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:18080", "address to listen on")
	procs := flag.Int("procs", 0, "GOMAXPROCS (0: leave the runtime default)")
	flag.Parse()
	if *procs > 0 {
		runtime.GOMAXPROCS(*procs)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	payload := []byte(body)
	length := strconv.Itoa(len(payload))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"text/plain; charset=utf-8"}
		h["Content-Length"] = []string{length}
		_, _ = w.Write(payload)
	})
	// /1k and /64k: answers of those sizes, for the response-size shapes.
	for path, n := range map[string]int{"GET /1k": 1 << 10, "GET /64k": 64 << 10} {
		sized := bytes.Repeat([]byte{'x'}, n)
		sizedLength := strconv.Itoa(n)
		mux.HandleFunc(path, func(w http.ResponseWriter, _ *http.Request) {
			h := w.Header()
			h["Content-Type"] = []string{"text/plain; charset=utf-8"}
			h["Content-Length"] = []string{sizedLength}
			_, _ = w.Write(sized)
		})
	}
	srv := &http.Server{
		Addr:              *listen,
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(slog.NewTextHandler(os.Stderr, nil), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return fmt.Errorf("listen on %s: %w", *listen, err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
