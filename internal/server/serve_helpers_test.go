package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bluegreen-dev/bluegreen/internal/config"
)

// staticBackend is an HTTP backend answering body to every request.
func staticBackend(t *testing.T, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// serveYAML writes yaml as dir/bluegreen.yaml (and dir/admin.token when
// missing), runs serve on it as `bluegreen serve` would, and stops it when
// the test ends; stop stops it sooner (once).
func serveYAML(t testing.TB, dir, yaml string) (s *Server, stop func()) {
	t.Helper()
	return serveYAMLLog(t, dir, yaml, t.Output())
}

// serveYAMLLog is serveYAML with serve's log written to logs.
func serveYAMLLog(t testing.TB, dir, yaml string, logs io.Writer) (s *Server, stop func()) {
	t.Helper()
	token := filepath.Join(dir, "admin.token")
	if _, err := os.Stat(token); os.IsNotExist(err) {
		if err := os.WriteFile(token, []byte(strings.Repeat("t", 32)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "bluegreen.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s, err = New(t.Context(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}
	t.Cleanup(stop)
	return s, stop
}
