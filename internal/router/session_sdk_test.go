package router

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// sdkInstance is one instance of a session-based MCP server built with the
// official SDK: sessions live in its memory only. Its tool "whoami" answers
// the instance's name.
func sdkInstance(t *testing.T, name string) string {
	t.Helper()
	s := mcp.NewServer(&mcp.Implementation{Name: name, Version: "1"}, nil)
	type in struct{}
	mcp.AddTool(s, &mcp.Tool{Name: "whoami", Description: "names the instance"},
		func(context.Context, *mcp.CallToolRequest, in) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: name}}}, nil, nil
		})
	return newServer(t, mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
}

// sdkSession is an SDK client session through the router.
type sdkSession struct {
	cs   *mcp.ClientSession
	inst string // instance that holds it
}

func connectSDK(ctx context.Context, url string) (*sdkSession, error) {
	c := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "1"}, nil)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, MaxRetries: -1}, nil)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	s := &sdkSession{cs: cs}
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		return s, fmt.Errorf("list tools: %w", err)
	}
	if len(tools.Tools) != 1 || tools.Tools[0].Name != "whoami" {
		return s, fmt.Errorf("tools %+v, want whoami", tools.Tools)
	}
	s.inst, err = s.call(ctx)
	return s, err
}

// call calls whoami and returns the instance name.
func (s *sdkSession) call(ctx context.Context) (string, error) {
	res, err := s.cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami", Arguments: map[string]any{}})
	if err != nil {
		return "", fmt.Errorf("call whoami: %w", err)
	}
	if res.IsError || len(res.Content) != 1 {
		return "", fmt.Errorf("whoami: error result %+v", res.Content)
	}
	tc, ok := res.Content[0].(*mcp.TextContent)
	if !ok {
		return "", fmt.Errorf("whoami: content %T", res.Content[0])
	}
	return tc.Text, nil
}

// closeOnCleanup closes s when the test ends, before the servers close (an
// open session keeps a stream open, which would block their Close).
func closeOnCleanup(t *testing.T, s *sdkSession) {
	t.Cleanup(func() { _ = s.cs.Close() })
}

// sdkSlots serves two SDK instances per slot behind a router.
func sdkSlots(t *testing.T, sessions bool) *testRouter {
	tr := newTestRouter(t, Options{MCPSessions: sessions}, false)
	for _, slot := range allSlots() {
		tr.SetBackends(slot, []string{sdkInstance(t, string(slot)+"-0"), sdkInstance(t, string(slot)+"-1")}, true)
	}
	return tr
}

func TestMCPSessionsSDKWithoutPinningFails(t *testing.T) {
	// Control: the SDK client through a router without pinning breaks with
	// two instances, so the test below can fail.
	tr := sdkSlots(t, false)
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	failed := false
	for range 3 {
		s, err := connectSDK(ctx, tr.prod.URL)
		if s != nil {
			_ = s.cs.Close()
		}
		if err != nil {
			failed = true
			break
		}
	}
	if !failed {
		t.Fatal("three SDK sessions over two instances worked without pinning")
	}
}

func TestMCPSessionsSDKAcrossSwitch(t *testing.T) {
	tr := sdkSlots(t, true)
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	const n = 8
	sessions := make([]*sdkSession, n)
	var wg sync.WaitGroup
	errs := make(chan error, 4*n)
	for i := range n {
		wg.Go(func() {
			s, err := connectSDK(ctx, tr.prod.URL)
			if s != nil {
				closeOnCleanup(t, s)
			}
			if err != nil {
				errs <- fmt.Errorf("session %d: %w", i, err)
				return
			}
			sessions[i] = s
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, s := range sessions {
		if !strings.HasPrefix(s.inst, "blue-") {
			t.Fatalf("session on %s while blue is live", s.inst)
		}
		seen[s.inst] = true
	}
	if len(seen) != 2 {
		t.Fatalf("sessions on %v, want both blue instances", seen)
	}
	if got := tr.Status().Slots[Blue].MCPSessions; got != n {
		t.Fatalf("blue pinned sessions %d, want %d", got, n)
	}

	if err := tr.SetTable(Table{Live: Blue, Weights: map[Slot]int{Blue: 50, Green: 50}}); err != nil {
		t.Fatal(err)
	}
	callAll := func(stage string) {
		t.Helper()
		errs := make(chan error, n)
		for i, s := range sessions {
			wg.Go(func() {
				for range 3 {
					got, err := s.call(ctx)
					if err == nil && got != s.inst {
						err = fmt.Errorf("served by %s, want %s", got, s.inst)
					}
					if err != nil {
						errs <- fmt.Errorf("%s: session %d: %w", stage, i, err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	callAll("during a 50/50 split")
	if err := tr.SetTable(LiveTable(Green)); err != nil {
		t.Fatal(err)
	}
	callAll("after the switch to green")

	fresh, err := connectSDK(ctx, tr.prod.URL)
	if fresh != nil {
		closeOnCleanup(t, fresh)
	}
	if err != nil {
		t.Fatalf("new session after the switch: %v", err)
	}
	if !strings.HasPrefix(fresh.inst, "green-") {
		t.Fatalf("new session after the switch on %s", fresh.inst)
	}

	// Closing a session sends DELETE: blue's pins fall to zero.
	for _, s := range append(sessions, fresh) {
		if err := s.cs.Close(); err != nil {
			t.Fatalf("close session: %v", err)
		}
	}
	st := tr.Status()
	if st.Slots[Blue].MCPSessions != 0 || st.Slots[Green].MCPSessions != 0 {
		t.Fatalf("pins after closing every session: blue %d green %d, want 0",
			st.Slots[Blue].MCPSessions, st.Slots[Green].MCPSessions)
	}
}
