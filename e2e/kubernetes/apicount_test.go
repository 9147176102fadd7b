package kubee2e

import (
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/bluegreen-dev/bluegreen/internal/kubetest"
)

// apiCounter is a reverse proxy in front of the API server that counts
// the requests passing through it by verb and object. serve's kubeconfig
// points at it (plain HTTP on loopback, no credentials: the proxy adds
// those of its rest.Config), so every API call serve makes is counted without touching
// serve.
type apiCounter struct {
	srv *httptest.Server

	mu     sync.Mutex
	counts map[string]int // "PATCH services/shop" → n
}

// newAPICounter proxies to the API server of cfg with cfg's credentials.
func newAPICounter(t *testing.T, cfg *rest.Config) *apiCounter {
	t.Helper()
	target, err := url.Parse(cfg.Host)
	if err != nil {
		t.Fatal(err)
	}
	transport, err := rest.TransportFor(cfg)
	if err != nil {
		t.Fatalf("transport to the API server: %v", err)
	}
	c := &apiCounter{counts: map[string]int{}}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = target.Host
		},
		Transport:     transport,
		FlushInterval: -1,
	}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.counts[r.Method+" "+objectOf(r.URL.Path)]++
		c.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

// kubeconfig writes a kubeconfig for serve that reaches the API server
// through the counter.
func (c *apiCounter) kubeconfig(t *testing.T, env *kubetest.Env) string {
	t.Helper()
	return env.WriteKubeconfig(t, &rest.Config{Host: c.srv.URL})
}

// snapshot is a copy of the counts so far.
func (c *apiCounter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.counts)
}

// writesSince are the write requests (POST, PUT, PATCH, DELETE) counted
// since before, by verb and object, and their total.
func (c *apiCounter) writesSince(before map[string]int) (map[string]int, int) {
	now := c.snapshot()
	out := map[string]int{}
	total := 0
	for k, n := range now {
		verb, _, _ := strings.Cut(k, " ")
		switch verb {
		case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		default:
			continue
		}
		if d := n - before[k]; d > 0 {
			out[k] = d
			total += d
		}
	}
	return out, total
}

// formatCounts writes counts sorted by key, for a log line.
func formatCounts(counts map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, counts[k]))
	}
	return strings.Join(parts, ", ")
}

// objectOf names the object of an API path: "services/shop",
// "deployments/shop-blue/scale", "pods" for a list; the namespace and
// API group are left out (each test has a namespace of its own).
func objectOf(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	for i, p := range parts {
		if p == "namespaces" && i+2 < len(parts) {
			return strings.Join(parts[i+2:], "/")
		}
	}
	return path
}
