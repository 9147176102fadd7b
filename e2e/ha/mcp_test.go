package hae2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/pgtest"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// startMCPBackend is an MCP server that keeps its sessions in memory, as
// most do: initialize (a request without Mcp-Session-Id) opens one and
// names it in the answer; a request of a session it does not hold gets
// 404, as the protocol says.
func startMCPBackend(t *testing.T, version string) string {
	t.Helper()
	var mu sync.Mutex
	sessions := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			_, _ = io.WriteString(w, `{"status":"healthy"}`)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		id := r.Header.Get("Mcp-Session-Id")
		if id == "" {
			b := make([]byte, 16)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
			mu.Lock()
			sessions[id] = true
			mu.Unlock()
			w.Header().Set("Mcp-Session-Id", id)
			_, _ = fmt.Fprintf(w, `{"jsonrpc":"2.0","id":1,"result":{"serverInfo":{"name":"shop","version":%q}}}`, version)
			return
		}
		mu.Lock()
		ok := sessions[id]
		mu.Unlock()
		if !ok {
			http.Error(w, "unknown session", http.StatusNotFound)
			return
		}
		_, _ = fmt.Fprintf(w, `{"jsonrpc":"2.0","id":2,"result":{"tools":[],"version":%q}}`, version)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// mcpCall posts one JSON-RPC request to prod's /mcp, in session id ("":
// initialize), and returns the session id answered and the status.
func mcpCall(t *testing.T, prod, id, method string) (string, int, string) {
	t.Helper()
	body := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":%q,"params":{}}`, method)
	req, err := http.NewRequest("POST", "http://"+prod+"/mcp", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if id != "" {
		req.Header.Set("Mcp-Session-Id", id)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s/mcp: %v", prod, err)
	}
	defer func() { _ = res.Body.Close() }()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	return res.Header.Get("Mcp-Session-Id"), res.StatusCode, string(b)
}

// TestMCPSessionsAcrossRouters: 50 MCP sessions opened through router A
// on v1 keep working on v1 when their requests go to router B after the
// switch to v2: B honours the pins A wrote to the shared table.
func TestMCPSessionsAcrossRouters(t *testing.T) {
	url := pgtest.URL(t)
	blue, green := startMCPBackend(t, "v1"), startMCPBackend(t, "v2")
	c := newHACluster(t, haOptions{nodes: 2, url: url, strategy: "all-at-once", mcp: true,
		blue: []string{blue}, green: []string{green}})
	c.start()
	a, b := c.nodes[0], c.nodes[1]
	c.leader(30 * time.Second)
	a.mustCLI("route", "--live", "blue")
	for _, p := range c.nodes {
		waitFor(t, 10*time.Second, p.name+" to route to blue", func() bool {
			st, err := p.status()
			return err == nil && st.Router.Table.Live == slot.Blue
		})
	}
	const n = 50
	ids := make([]string, n)
	for i := range ids {
		id, code, body := mcpCall(t, a.prod, "", "initialize")
		if code != 200 || id == "" || !strings.Contains(body, `"v1"`) {
			t.Fatalf("initialize %d through %s: %d %q, session %q", i, a.name, code, body, id)
		}
		ids[i] = id
	}
	// The switch, sent to B.
	b.mustCLI("route", "--live", "green")
	for _, p := range c.nodes {
		waitFor(t, 10*time.Second, p.name+" to route to green", func() bool {
			st, err := p.status()
			return err == nil && st.Router.Table.Live == slot.Green && st.Router.Table.Weights[slot.Green] == 100
		})
	}
	waitFor(t, 10*time.Second, b.name+" to know the sessions A pinned", func() bool {
		st, err := b.status()
		return err == nil && st.Router.Slots[slot.Blue].MCPSessions >= n
	})
	// New clients go to v2 on B; the old sessions stay on v1.
	if _, code, body := mcpCall(t, b.prod, "", "initialize"); code != 200 || !strings.Contains(body, `"v2"`) {
		t.Errorf("a new session through %s after the switch: %d %q, want v2", b.name, code, body)
	}
	failed := 0
	for i, id := range ids {
		_, code, body := mcpCall(t, b.prod, id, "tools/list")
		if code != 200 || !strings.Contains(body, `"v1"`) {
			if failed++; failed <= 5 {
				t.Errorf("session %d through %s after the switch: %d %q, want 200 from v1", i, b.name, code, body)
			}
		}
	}
	t.Logf("%d MCP sessions opened through %s, %d failed through %s after the switch", n, a.name, failed, b.name)
}
