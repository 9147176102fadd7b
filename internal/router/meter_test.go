package router

import (
	"net/http"
	"testing"
	"time"
)

func TestLatencyBuckets(t *testing.T) {
	bounds := LatencyBounds()
	for i := 1; i < len(bounds); i++ {
		if bounds[i] <= bounds[i-1] {
			t.Fatalf("bounds not ascending at %d: %s, %s", i, bounds[i-1], bounds[i])
		}
	}
	for _, us := range []uint64{0, 1, 15, 16, 17, 31, 32, 33, 100, 999, 1000, 1001, 123456, 5e6, 1 << 31} {
		b := bucketOf(us)
		lower := uint64(0)
		if b > 0 {
			lower = bucketUpper(b - 1)
		}
		if us < lower || us >= bucketUpper(b) {
			t.Errorf("%dµs in bucket %d = [%d, %d)", us, b, lower, bucketUpper(b))
		}
		if width := bucketUpper(b) - lower; lower >= subBuckets && width*subBuckets > lower {
			t.Errorf("bucket %d = [%d, %d) wider than 1/16 of its bound", b, lower, bucketUpper(b))
		}
	}
	if b := bucketOf(1 << 62); b != latencyBuckets-1 {
		t.Errorf("huge latency in bucket %d, want the last (%d)", b, latencyBuckets-1)
	}
}

// The meter counts answers per slot: requests, 5xx and connection
// failures as errors, and latency to the response headers.
func TestMeasure(t *testing.T) {
	tr := newTestRouter(t, Options{}, false)
	blue := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/fail":
			w.WriteHeader(http.StatusInternalServerError)
		case "/missing":
			w.WriteHeader(http.StatusNotFound)
		case "/slow":
			time.Sleep(20 * time.Millisecond) // the latency measured, not synchronisation
		}
	}))
	tr.SetBackends(Blue, []string{blue}, true)
	tr.SetBackends(Green, []string{closedAddr(t)}, true)
	if err := tr.SetTable(LiveTable(Blue)); err != nil {
		t.Fatal(err)
	}
	before := tr.Measure(Blue)
	for _, p := range []string{"/", "/", "/fail", "/missing", "/slow"} {
		get(t, tr.prod.Client(), tr.prod.URL+p, nil)
	}
	get(t, tr.preview.Client(), tr.preview.URL+"/", nil) // green: connection refused → 502

	m := tr.Measure(Blue)
	if got := m.Requests - before.Requests; got != 5 {
		t.Errorf("blue requests = %d, want 5", got)
	}
	if m.Errors != 1 {
		t.Errorf("blue errors = %d, want 1 (the 500; a 404 is not an error)", m.Errors)
	}
	var n, slow uint64
	bounds := LatencyBounds()
	for i, c := range m.Latency {
		n += c
		if bounds[i] > 20*time.Millisecond {
			slow += c
		}
	}
	if n != 5 || slow != 1 {
		t.Errorf("blue latency: %d samples, %d at 20ms or more; want 5 and 1", n, slow)
	}
	g := tr.Measure(Green)
	if g.Requests != 1 || g.Errors != 1 {
		t.Errorf("green: %d requests, %d errors; want the failed connection as 1 and 1", g.Requests, g.Errors)
	}
	if z := tr.Measure("red"); z.Requests != 0 || z.Latency != nil {
		t.Errorf("invalid slot measured: %+v", z)
	}
}
