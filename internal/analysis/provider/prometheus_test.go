package provider

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bluegreen-dev/bluegreen/internal/analysis"
	"github.com/bluegreen-dev/bluegreen/internal/config"
)

// lockedBuffer collects a process's output for failure messages.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startPrometheus runs the system's prometheus binary on a free loopback
// port with its own config and storage, scraping target every second, and
// returns its URL. It skips the test when prometheus is not installed,
// unless CI=true.
func startPrometheus(t *testing.T, target string) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("prometheus not installed (CI=true): %v", err)
		}
		t.Skipf("prometheus not installed (apt-get install prometheus): %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	yml := fmt.Sprintf("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: bluegreen\n    static_configs:\n      - targets: [%q]\n", target)
	if err := os.WriteFile(cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	out := &lockedBuffer{}
	cmd := exec.Command(bin,
		"--config.file="+cfg,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
	)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if err := cmd.Process.Kill(); err != nil {
			t.Errorf("kill prometheus: %v", err)
		}
		<-done
		if t.Failed() {
			t.Logf("prometheus output:\n%s", out)
		}
	})
	return "http://" + addr
}

func promSet(t *testing.T, url, query string, max, min *float64) *Set {
	t.Helper()
	s, err := New([]config.Provider{{
		Name: "upstream-errors", Timeout: config.Duration(5 * time.Second),
		Prometheus: &config.PrometheusProvider{URL: url, Query: query, Max: max, Min: min},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPrometheusReal(t *testing.T) {
	reg := prom.NewRegistry()
	errs := prom.NewGaugeVec(prom.GaugeOpts{Name: "bluegreen_test_error_rate", Help: "errors per second"}, []string{"slot"})
	reg.MustRegister(errs)
	errs.WithLabelValues("blue").Set(0.1)
	errs.WithLabelValues("green").Set(2)
	target := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(target.Close)
	url := startPrometheus(t, strings.TrimPrefix(target.URL, "http://"))

	const query = `sum(bluegreen_test_error_rate{slot="{{slot}}"})`
	maxErr := 0.5
	green, blue := testWindow, testWindow
	blue.NewSlot = "blue"

	// Wait for the first scrape to reach the query (prometheus starts, then
	// scrapes every second).
	var r analysis.ProviderResult
	deadline := time.Now().Add(30 * time.Second)
	for {
		r = promSet(t, url, query, &maxErr, nil).Judge(context.Background(), blue)[0]
		if r.Result != analysis.Inconclusive || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond) // polling an external process, not synchronising goroutines
	}
	if r.Result != analysis.Pass || r.Value == nil || *r.Value != 0.1 || r.Query != `sum(bluegreen_test_error_rate{slot="blue"})` ||
		r.Reason != "query returned 0.1, within max 0.5" {
		t.Fatalf("blue = %+v, want pass at 0.1", r)
	}
	r = promSet(t, url, query, &maxErr, nil).Judge(context.Background(), green)[0]
	if r.Result != analysis.Fail || r.Value == nil || *r.Value != 2 || r.Reason != "query returned 2, above max 0.5" {
		t.Errorf("green = %+v, want fail at 2 above max 0.5", r)
	}
	minVal := 1.0
	r = promSet(t, url, query, nil, &minVal).Judge(context.Background(), blue)[0]
	if r.Result != analysis.Fail || r.Reason != "query returned 0.1, below min 1" {
		t.Errorf("blue with min 1 = %+v, want fail below min", r)
	}

	for _, tc := range []struct{ name, query, reason string }{
		{"no data", `sum(bluegreen_test_error_rate{slot="none"})`, "query returned no data"},
		{"several series", `bluegreen_test_error_rate`, "query returned 2 series, want one number"},
		{"bad query", `sum(`, "query failed (bad_data)"},
	} {
		r := promSet(t, url, tc.query, &maxErr, nil).Judge(context.Background(), blue)[0]
		if r.Result != analysis.Inconclusive || !strings.Contains(r.Reason, tc.reason) {
			t.Errorf("%s: %+v, want inconclusive: %s", tc.name, r, tc.reason)
		}
	}
}

// A Prometheus that cannot be reached is inconclusive.
func TestPrometheusUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	maxErr := 0.5
	r := promSet(t, url, "up", &maxErr, nil).Judge(context.Background(), testWindow)[0]
	if r.Result != analysis.Inconclusive || !strings.Contains(r.Reason, "unreachable") {
		t.Errorf("result = %+v, want inconclusive, unreachable", r)
	}
}
