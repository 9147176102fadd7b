package router

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkProxy measures small GETs through the production handler with
// parallel keep-alive clients, next to the same backend reached directly.
// Run: go test -run '^$' -bench Proxy -benchtime 5s ./internal/router/
func BenchmarkProxy(b *testing.B) {
	payload := []byte("hello from the backend\n")
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(payload)
	}))
	b.Cleanup(backend.Close)

	tr := newTestRouter(b, Options{}, false)
	tr.SetBackends(Blue, []string{backend.Listener.Addr().String()}, true)
	// With MCP session pinning on, requests without Mcp-Session-Id.
	trs := newTestRouter(b, Options{MCPSessions: true}, false)
	trs.SetBackends(Blue, []string{backend.Listener.Addr().String()}, true)

	for _, target := range []struct{ name, url string }{
		{"direct", backend.URL + "/"},
		{"bluegreen", tr.prod.URL + "/"},
		{"bluegreen-mcp-sessions", trs.prod.URL + "/"},
	} {
		b.Run(target.name, func(b *testing.B) {
			transport := &http.Transport{MaxIdleConnsPerHost: 1024}
			b.Cleanup(transport.CloseIdleConnections)
			client := &http.Client{Transport: transport}
			b.SetParallelism(8)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				buf := make([]byte, 512)
				for pb.Next() {
					resp, err := client.Get(target.url)
					if err != nil {
						b.Error(err)
						return
					}
					n, err := io.ReadFull(resp.Body, buf[:len(payload)])
					if err != nil || n != len(payload) || resp.StatusCode != http.StatusOK {
						b.Errorf("status %d, %d bytes, %v", resp.StatusCode, n, err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					if err := resp.Body.Close(); err != nil {
						b.Error(err)
					}
				}
			})
		})
	}
}
