package router

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

func TestMetrics(t *testing.T) {
	tr := newTestRouter(t, Options{}, false)
	blueAddr := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	tr.SetBackends(Blue, []string{blueAddr}, true)
	greenAddr := closedAddr(t)
	tr.SetBackends(Green, []string{greenAddr}, false)
	if err := tr.SetTable(Table{Live: Blue, Weights: map[Slot]int{Blue: 70, Green: 30}}); err != nil {
		t.Fatal(err)
	}
	if err := tr.SetTable(LiveTable(Blue)); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		get(t, tr.prod.Client(), tr.prod.URL+"/", nil)
	}
	get(t, tr.prod.Client(), tr.prod.URL+"/missing", nil)
	get(t, tr.preview.Client(), tr.preview.URL+"/", nil) // green: no healthy instance

	families, err := tr.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, f := range families {
		byName[f.GetName()] = f
	}
	wantLabels := map[string][]string{
		"bluegreen_requests_total":           {"code", "slot"},
		"bluegreen_request_duration_seconds": {"slot"},
		"bluegreen_slot_weight":              {"slot"},
		"bluegreen_backend_up":               {"backend", "slot"},
		"bluegreen_inflight_requests":        {"slot"},
	}
	for name, labels := range wantLabels {
		f, ok := byName[name]
		if !ok {
			t.Errorf("metric %s missing", name)
			continue
		}
		for _, m := range f.GetMetric() {
			var got []string
			for _, l := range m.GetLabel() {
				got = append(got, l.GetName())
			}
			slices.Sort(got)
			if !slices.Equal(got, labels) {
				t.Errorf("%s labels %v, want %v", name, got, labels)
			}
		}
	}

	checks := []struct {
		name string
		c    prometheus.Collector
		want float64
	}{
		{`requests_total{blue,200}`, tr.metrics.requests.WithLabelValues("blue", "200"), 3},
		{`requests_total{blue,404}`, tr.metrics.requests.WithLabelValues("blue", "404"), 1},
		{`requests_total{green,503}`, tr.metrics.requests.WithLabelValues("green", "503"), 1},
		{`slot_weight{blue}`, tr.metrics.weight.WithLabelValues("blue"), 100},
		{`slot_weight{green}`, tr.metrics.weight.WithLabelValues("green"), 0},
		{`backend_up{blue}`, tr.metrics.backendUp.WithLabelValues("blue", blueAddr), 1},
		{`backend_up{green}`, tr.metrics.backendUp.WithLabelValues("green", greenAddr), 0},
	}
	for _, c := range checks {
		if got := testutil.ToFloat64(c.c); got != c.want {
			t.Errorf("%s = %v, want %v", c.name, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(tr.metrics.duration); n != 2 {
		t.Errorf("duration series = %d, want 2 (one per slot)", n)
	}
	hist := byName["bluegreen_request_duration_seconds"]
	var blueCount uint64
	for _, m := range hist.GetMetric() {
		if m.GetLabel()[0].GetValue() == "blue" {
			blueCount = m.GetHistogram().GetSampleCount()
		}
	}
	if blueCount != 4 {
		t.Errorf("blue duration samples = %d, want 4", blueCount)
	}

	// A removed backend's series disappears.
	tr.SetBackends(Green, nil, true)
	if err := testutil.GatherAndCompare(tr.reg, strings.NewReader(`
# HELP bluegreen_backend_up 1 when the instance is in rotation, 0 when health checks took it out.
# TYPE bluegreen_backend_up gauge
bluegreen_backend_up{backend="`+blueAddr+`",slot="blue"} 1
`), "bluegreen_backend_up"); err != nil {
		t.Error(err)
	}

	// Two routers on one registry collide: the error says so.
	if _, err := New(Options{Registry: tr.reg}); err == nil {
		t.Error("second router on the same registry registered")
	}
}

func TestInflightMetric(t *testing.T) {
	tr := newTestRouter(t, Options{}, false)
	blue, addr := newStreamBackend(t, Blue)
	tr.SetBackends(Blue, []string{addr}, true)
	s, bs := openStream(t, tr.prod.URL+"/", blue)
	if err := testutil.GatherAndCompare(tr.reg, strings.NewReader(`
# HELP bluegreen_inflight_requests Requests (and streams) in flight on the slot.
# TYPE bluegreen_inflight_requests gauge
bluegreen_inflight_requests{slot="blue"} 1
bluegreen_inflight_requests{slot="green"} 0
`), "bluegreen_inflight_requests"); err != nil {
		t.Error(err)
	}
	if st := tr.Status().Slots[Blue]; st.Inflight != 1 || st.Backends[0].Inflight != 1 {
		t.Errorf("status %+v, want 1 in flight on the slot and its backend", st)
	}
	assertAlive(t, "stream", s, bs)
}
