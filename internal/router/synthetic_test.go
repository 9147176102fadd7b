package router

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Synthetic requests go through the slot's proxy to the slot asked for,
// whatever the weights; the instance sees them marked, and only the
// synthetic meters count them.
func TestSynthetic(t *testing.T) {
	tr := newTestRouter(t, Options{MCPErrors: true, Filters: []Filter{{PathPrefix: "/mcp"}}}, false)
	for _, slot := range []Slot{Blue, Green} {
		tr.SetBackends(slot, []string{newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/mcp" {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"no"}}`))
				return
			}
			echoHandler(slot).ServeHTTP(w, r)
		}))}, true)
	}
	if err := tr.SetTable(LiveTable(Blue)); err != nil {
		t.Fatal(err)
	}
	if tr.Synthetic("red") != nil {
		t.Error("a synthetic handler for an invalid slot")
	}

	// A client cannot pass for synthetic traffic.
	e := getEcho(t, tr.prod.Client(), tr.prod.URL+"/", http.Header{HeaderSynthetic: {"1"}})
	if got := e.Header.Get(HeaderSynthetic); got != "" {
		t.Errorf("client's %s reached the instance: %q", HeaderSynthetic, got)
	}

	// Green has no production traffic; synthetic requests reach it.
	h := tr.Synthetic(Green)
	for range 3 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		if rec.Code != http.StatusOK || rec.Header().Get(HeaderSlot) != "green" {
			t.Fatalf("synthetic answer %d from %q: %s", rec.Code, rec.Header().Get(HeaderSlot), rec.Body)
		}
		if !strings.Contains(rec.Body.String(), `"X-Bluegreen-Synthetic":["1"]`) {
			t.Errorf("instance did not see the mark: %s", rec.Body)
		}
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"x"}`))
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(rec, req)

	syn, _ := tr.MeasureOf(Green, SyntheticTraffic, Filter{})
	synMCP, _ := tr.MeasureOf(Green, SyntheticTraffic, Filter{PathPrefix: "/mcp"})
	if syn.Requests != 4 || syn.Errors != 1 || syn.MCPErrors != 1 || synMCP.Requests != 1 || synMCP.Errors != 1 {
		t.Errorf("green synthetic: %+v, /mcp: %+v; want 4 requests with the MCP error, 1 of them on /mcp", syn, synMCP)
	}
	if u := tr.Measure(Green); u.Requests != 0 {
		t.Errorf("green user requests = %d, want 0", u.Requests)
	}
	if u := tr.Measure(Blue); u.Requests != 1 {
		t.Errorf("blue user requests = %d, want the client's 1", u.Requests)
	}
	if b, _ := tr.MeasureOf(Blue, SyntheticTraffic, Filter{}); b.Requests != 0 {
		t.Errorf("blue synthetic requests = %d, want 0", b.Requests)
	}
	if n := testutil.CollectAndCount(tr.metrics.requests); n != 1 {
		t.Errorf("requests_total has %d series, want only blue's user request", n)
	}
	if got := testutil.ToFloat64(tr.metrics.requests.WithLabelValues("blue", "200")); got != 1 {
		t.Errorf("requests_total{blue,200} = %v, want 1", got)
	}
	if st := tr.Status().Slots[Green]; st.Inflight != 0 {
		t.Errorf("green in flight = %d", st.Inflight)
	}
}
