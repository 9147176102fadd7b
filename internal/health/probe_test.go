package health

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestProbe(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("healthy")) })
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/fail", http.StatusFound) })
	mux.HandleFunc("/fail", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("x", 4*maxProbeBody)))
	})
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()

	tests := []struct {
		path    string
		wantErr string
	}{
		{"/ok", ""},
		{"/redirect", ""}, // 3xx is a success and is not followed to /fail
		{"/big", ""},
		{"/fail", "status 500"},
		{"/missing", "status 404"},
	}
	for _, tt := range tests {
		err := Probe(t.Context(), srv.Client(), addr, tt.path)
		if tt.wantErr == "" && err != nil {
			t.Errorf("Probe(%s) = %v, want nil", tt.path, err)
		}
		if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("Probe(%s) = %v, want error containing %q", tt.path, err, tt.wantErr)
		}
	}

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := Probe(ctx, srv.Client(), addr, "/hang"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Probe(/hang) = %v, want deadline exceeded", err)
	}
}

func TestProbeConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if err := Probe(t.Context(), &http.Client{}, addr, "/health"); err == nil {
		t.Fatal("Probe of a closed port succeeded")
	}
}

func TestLoopProbesImmediatelyThenPerTick(t *testing.T) {
	ticks := make(chan time.Time)
	results := make(chan bool)
	var calls atomic.Int32
	probe := func(ctx context.Context) error {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("probe context has no deadline")
		}
		if calls.Add(1)%2 == 0 {
			return errors.New("down")
		}
		return nil
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		loop(ctx, time.Second, ticks, probe, func(ok bool, err error) {
			if ok != (err == nil) {
				t.Errorf("report(ok=%v, err=%v): inconsistent", ok, err)
			}
			results <- ok
		})
	}()

	want := []bool{true, false, true}
	for i, w := range want {
		if i > 0 {
			ticks <- time.Now()
		}
		select {
		case got := <-results:
			if got != w {
				t.Fatalf("probe %d ok = %v, want %v", i, got, w)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("probe %d never reported", i)
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("loop did not stop when ctx ended")
	}
	if got := calls.Load(); got != 3 {
		t.Fatalf("probes = %d, want 3 (one immediately, one per tick)", got)
	}
}

func TestLoopDoesNotReportProbeCutByCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	started := make(chan struct{})
	probe := func(pctx context.Context) error {
		close(started)
		<-pctx.Done()
		return pctx.Err()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		loop(ctx, time.Hour, make(chan time.Time), probe, func(ok bool, err error) {
			t.Errorf("reported (%v, %v) after cancel", ok, err)
		})
	}()
	<-started
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("loop did not stop when ctx ended")
	}
}

func TestLoopAgainstServer(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			t.Errorf("probe path = %s, want /healthz", r.URL.Path)
		}
		hits.Add(1)
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	results := make(chan bool, 16)
	go Loop(ctx, Options{Path: "/healthz", Interval: 10 * time.Millisecond}, srv.Client(), srv.Listener.Addr().String(), func(ok bool, _ error) {
		select {
		case results <- ok:
		default:
		}
	})
	for i := range 3 {
		select {
		case ok := <-results:
			if !ok {
				t.Fatalf("probe %d failed", i)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("probe %d never reported", i)
		}
	}
}

func TestOptions(t *testing.T) {
	o := Options{}.WithDefaults()
	if err := o.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	if o.Path != DefaultPath || o.Interval != DefaultInterval || o.HealthyThreshold != DefaultHealthyThreshold {
		t.Fatalf("defaults = %+v", o)
	}
	bad := Options{Path: "health", Interval: -1, Timeout: -1, HealthyThreshold: -1, UnhealthyThreshold: -2}
	err := bad.Validate()
	if err == nil {
		t.Fatal("bad options validated")
	}
	for _, want := range []string{"path", "interval", "timeout", "healthy_threshold", "unhealthy_threshold"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestPassiveEjectionLimit(t *testing.T) {
	for _, tc := range []struct {
		pct         *int
		total, want int
	}{
		{nil, 1, 0}, // the default 50%: a single instance is never taken out
		{nil, 2, 1},
		{nil, 3, 1},
		{nil, 4, 2},
		{new(100), 1, 1},
		{new(100), 3, 3},
		{new(0), 4, 0},
		{new(34), 3, 1},
		{nil, 0, 0},
	} {
		o := Options{MaxPassiveEjection: tc.pct}
		if got := o.PassiveEjectionLimit(tc.total); got != tc.want {
			t.Errorf("PassiveEjectionLimit(%d) with %v%% = %d, want %d", tc.total, tc.pct, got, tc.want)
		}
	}
	if d := (Options{}).WithDefaults().MaxPassiveEjection; d == nil || *d != DefaultMaxPassiveEjection {
		t.Errorf("default max passive ejection %v, want %d", d, DefaultMaxPassiveEjection)
	}
	for _, pct := range []int{-1, 101} {
		err := Options{MaxPassiveEjection: new(pct)}.WithDefaults().Validate()
		if err == nil || !strings.Contains(err.Error(), "max_passive_ejection") {
			t.Errorf("max passive ejection %d%%: %v", pct, err)
		}
	}
}
