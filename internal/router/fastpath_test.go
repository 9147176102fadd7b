package router

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestResponseHeaderTimeout: an instance that takes a request and sends
// no response head within Options.ResponseHeaderTimeout gets the client a
// 504 timeout naming the slot, on the fast path and on http.Transport (a
// request with a chunked body goes there).
func TestResponseHeaderTimeout(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	hung := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		select {
		case <-release:
		case <-req.Context().Done():
		}
	}))
	r := newTestRouter(t, Options{ResponseHeaderTimeout: 200 * time.Millisecond}, false)
	r.SetBackends(Green, []string{hung}, true)
	r.SetTable(LiveTable(Green))
	ft := r.slots[1].proxy.Transport.(*slotTransport).base.(*fastTransport)
	for _, tc := range []struct {
		name string
		body io.Reader
		fast bool
	}{
		{"fast path", nil, true},
		{"http.Transport", io.MultiReader(strings.NewReader("chunk")), false},
	} {
		before := ft.fast.Load()
		req, err := http.NewRequest(http.MethodPost, r.prod.URL+"/slow", tc.body)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusGatewayTimeout || resp.Header.Get(HeaderError) != "timeout" ||
			!strings.Contains(string(body), "slot green") || !strings.Contains(string(body), "routing.response_header_timeout") {
			t.Errorf("%s: %d %q %q, want 504 timeout naming slot green and the key", tc.name, resp.StatusCode, resp.Header.Get(HeaderError), body)
		}
		if got := ft.fast.Load() > before; got != tc.fast {
			t.Errorf("%s: on the fast path %v, want %v", tc.name, got, tc.fast)
		}
	}
	if n, err := testutil.GatherAndCount(r.reg, "bluegreen_fastpath_requests_total"); err != nil || n != 2 {
		t.Errorf("bluegreen_fastpath_requests_total: %d series, %v; want fast and general", n, err)
	}
}
