package gcfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	for _, c := range []struct {
		floor, live int64
		base, want  int
	}{
		{64 << 20, 4 << 20, 100, 1500},      // 4 MiB live grows to 64 MiB
		{64 << 20, 32 << 20, 100, 100},      // 32 MiB × 2 is the floor: base
		{64 << 20, 48 << 20, 100, 100},      // over the floor with base: base
		{64 << 20, 100 << 20, 50, 50},       // live over the floor: base
		{64 << 20, 0, 100, maxPercent},      // nothing live: bounded
		{64 << 20, 16 << 20, 400, 400},      // a base that goes further wins
		{1 << 30, 1 << 10, 100, maxPercent}, // bounded
		{10 << 20, 10 << 20, 100, 100},      // at the floor
		{64 << 20, 60 << 20, 100, 100},      // 6% under: base
		{128 << 20, 8 << 20, 100, 1500},     // 8 MiB live grows to 128 MiB
	} {
		if got := Percent(c.floor, c.live, c.base); got != c.want {
			t.Errorf("Percent(%d, %d, %d) = %d, want %d", c.floor, c.live, c.base, got, c.want)
		}
	}
}

// gogc reads the GOGC the runtime uses now.
func gogc() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}

// collectUntil runs collections until ok holds, for at most 10 s.
func collectUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: GOGC is %d after 10 s of collections", what, gogc())
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // the cleanup runs on its own goroutine
	}
}

func TestFloorRaisesGOGCAndStopRestoresIt(t *testing.T) {
	base := debug.SetGCPercent(100)
	debug.SetGCPercent(base)
	if base < 0 {
		t.Skip("GOGC=off in this environment")
	}
	// A test binary's live heap is a few MiB: 1 GiB is far over it.
	f := Start(1 << 30)
	collectUntil(t, "floor of 1 GiB", func() bool { return gogc() > base*5 })
	f.Stop()
	if got := gogc(); got != base {
		t.Fatalf("after Stop GOGC is %d, want the base %d", got, base)
	}
	// Stopped: collections change nothing more.
	runtime.GC()
	runtime.GC()
	time.Sleep(20 * time.Millisecond)
	if got := gogc(); got != base {
		t.Fatalf("collections after Stop set GOGC to %d, want %d", got, base)
	}
	f.Stop() // twice is fine
}

func TestFloorUnderTheLiveHeapKeepsBase(t *testing.T) {
	base := debug.SetGCPercent(100)
	debug.SetGCPercent(base)
	if base < 0 {
		t.Skip("GOGC=off in this environment")
	}
	keep := make([]byte, 8<<20) // 8 MiB live, over the 1 MiB floor
	f := Start(1 << 20)
	defer f.Stop()
	collectUntil(t, "floor of 1 MiB", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.set != 0
	})
	if got := gogc(); got != base {
		t.Fatalf("GOGC is %d with the live heap over the floor, want the base %d", got, base)
	}
	runtime.KeepAlive(keep)
}

func TestZeroFloorChangesNothing(t *testing.T) {
	before := gogc()
	f := Start(0)
	runtime.GC()
	time.Sleep(20 * time.Millisecond)
	if got := gogc(); got != before {
		t.Fatalf("GOGC %d, want %d", got, before)
	}
	f.Stop()
	if got := gogc(); got != before {
		t.Fatalf("after Stop GOGC %d, want %d", got, before)
	}
}
