package main

import (
	"bytes"
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/config"
)

func gogcNow() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}

// serve applies runtime.gc_heap_floor: GOGC rises once a collection ran;
// a GOGC in the environment wins, and says so in the log.
func TestStartGCFloor(t *testing.T) {
	base := debug.SetGCPercent(100)
	debug.SetGCPercent(base)
	if base < 0 {
		t.Skip("GOGC=off in this environment")
	}
	cfg := config.Default()
	cfg.Runtime.GCHeapFloor = 1 << 30

	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	e := &env{getenv: func(k string) string {
		if k == "GOGC" {
			return "150"
		}
		return ""
	}}
	f := startGCFloor(e, cfg, log)
	runtime.GC()
	time.Sleep(20 * time.Millisecond)
	if got := gogcNow(); got != base {
		t.Errorf("with GOGC set, GOGC is %d, want %d (the floor not applied)", got, base)
	}
	if !strings.Contains(logs.String(), "GOGC is set: runtime.gc_heap_floor not applied") || !strings.Contains(logs.String(), "GOGC=150") {
		t.Errorf("log %q does not say the floor is not applied", logs.String())
	}
	f.Stop()

	e.getenv = func(string) string { return "" }
	f = startGCFloor(e, cfg, log)
	defer f.Stop()
	for deadline := time.Now().Add(10 * time.Second); gogcNow() <= base; {
		if time.Now().After(deadline) {
			t.Fatalf("GOGC still %d after 10 s of collections with a 1 GiB floor", gogcNow())
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}
