package router

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkFastPath measures GETs of a 1 KiB answer through the
// production handler on the fast path and on http.Transport (the general
// path), with parallel keep-alive clients; allocs/op is the whole round
// trip, client and backend included.
// Run: go test -run '^$' -bench FastPath -benchtime 3s ./internal/router/
func BenchmarkFastPath(b *testing.B) {
	payload := []byte(strings.Repeat("x", 1<<10))
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(payload)
	}))
	b.Cleanup(backend.Close)
	for _, path := range []struct {
		name   string
		opts   Options
		direct bool
	}{
		{"direct", Options{}, true}, // the client-side fast path too (fastserve.go)
		{"fast", Options{}, false},
		{"general", Options{Transport: newTransport()}, false},
	} {
		tr := newTestRouter(b, path.opts, false)
		tr.SetBackends(Blue, []string{backend.Listener.Addr().String()}, true)
		url := tr.prod.URL + "/"
		if path.direct {
			url = "http://" + serveDirect(b, tr.Router, tr.Production()) + "/"
		}
		b.Run(path.name, func(b *testing.B) {
			transport := &http.Transport{MaxIdleConnsPerHost: 1024}
			b.Cleanup(transport.CloseIdleConnections)
			client := &http.Client{Transport: transport}
			b.SetParallelism(8)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Get(url)
					if err != nil {
						b.Error(err)
						return
					}
					n, _ := io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if n != int64(len(payload)) || resp.StatusCode != http.StatusOK {
						b.Errorf("status %d, %d bytes", resp.StatusCode, n)
					}
				}
			})
		})
	}
}
