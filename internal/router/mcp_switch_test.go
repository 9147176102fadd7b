package router

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fleetInstance is one instance of an MCP server built with the official
// SDK, session-based (sessions in its memory only) or stateless. Tools:
// whoami answers the instance's name, search answers a count, fail answers
// a tool error. inits counts the sessions initialised on it.
func fleetInstance(t *testing.T, name string, stateless bool, inits *atomic.Int64) string {
	t.Helper()
	s := mcp.NewServer(&mcp.Implementation{Name: name, Version: "1"}, &mcp.ServerOptions{
		InitializedHandler: func(context.Context, *mcp.InitializedRequest) { inits.Add(1) },
	})
	type in struct {
		Q string `json:"q,omitempty"`
	}
	text := func(s string) *mcp.CallToolResult {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
	}
	mcp.AddTool(s, &mcp.Tool{Name: "whoami", Description: "names the instance"},
		func(context.Context, *mcp.CallToolRequest, in) (*mcp.CallToolResult, any, error) {
			return text(name), nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "search", Description: "finds things"},
		func(context.Context, *mcp.CallToolRequest, in) (*mcp.CallToolResult, any, error) {
			return text("2 found"), nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "fail", Description: "always fails"},
		func(context.Context, *mcp.CallToolRequest, in) (*mcp.CallToolResult, any, error) {
			return nil, nil, errors.New("it failed")
		})
	return newServer(t, mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s },
		&mcp.StreamableHTTPOptions{Stateless: stateless}))
}

// fleet is a router with two SDK instances per slot.
type fleet struct {
	*testRouter
	timers *fakeTimers
	inits  map[Slot]*atomic.Int64 // sessions initialised per slot
	client *http.Client
}

func newFleet(t *testing.T, opts Options, stateless bool) *fleet {
	f := &fleet{testRouter: newTestRouter(t, opts, false), timers: &fakeTimers{}, inits: map[Slot]*atomic.Int64{}}
	f.afterFunc = f.timers.afterFunc
	for _, slot := range allSlots() {
		f.inits[slot] = &atomic.Int64{}
		f.SetBackends(slot, []string{
			fleetInstance(t, string(slot)+"-0", stateless, f.inits[slot]),
			fleetInstance(t, string(slot)+"-1", stateless, f.inits[slot]),
		}, true)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 200}
	t.Cleanup(tr.CloseIdleConnections)
	f.client = &http.Client{Transport: tr}
	return f
}

// connect opens an MCP client session through the router's production
// listener, in protocol revision version ("" for the SDK's latest).
func (f *fleet) connect(ctx context.Context, t *testing.T, version string) (*mcp.ClientSession, error) {
	c := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "1"}, nil)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: f.prod.URL + "/mcp", HTTPClient: f.client},
		&mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	// Closed before the servers (cleanups run last in, first out): an
	// open session keeps a stream open that would block their Close.
	t.Cleanup(func() { _ = cs.Close() })
	return cs, nil
}

// callText calls tool and returns its text, failing on any error,
// including a tool error.
func callText(ctx context.Context, cs *mcp.ClientSession, tool string) (string, error) {
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: map[string]any{}})
	if err != nil {
		return "", fmt.Errorf("call %s: %w", tool, err)
	}
	if res.IsError || len(res.Content) != 1 {
		return "", fmt.Errorf("call %s: error result %+v", tool, res.Content)
	}
	tc, ok := res.Content[0].(*mcp.TextContent)
	if !ok {
		return "", fmt.Errorf("call %s: content %T", tool, res.Content[0])
	}
	return tc.Text, nil
}

// mcpCount is one child of bluegreen_mcp_requests_total.
func (f *fleet) mcpCount(slot Slot, method, tool string, o mcpOutcome) int {
	return int(testutil.ToFloat64(f.mcpMetrics.requests.WithLabelValues(string(slot), method, tool, string(o))))
}

// collect fails the test with every error sent on errs.
func collect(t *testing.T, errs chan error) {
	t.Helper()
	close(errs)
	n := 0
	for err := range errs {
		if n++; n <= 10 {
			t.Error(err)
		}
	}
	if n > 0 {
		t.Fatalf("%d errors", n)
	}
}

// Fifty sessions of the official SDK client against a session-based SDK
// server (two instances per slot) live through a switch from blue to green
// and the drain deadline after it: every tool call succeeds on the
// instance that holds the session, no session is initialised again, new
// sessions land on green, and blue's pinned sessions fall to zero as the
// sessions end — only then may blue scale down.
func TestMCPSessionsFiftyAcrossLiveSwitch(t *testing.T) {
	const (
		n     = 50
		phase = 4 // calls per phase; phases: before, across the switch, after it, across the drain deadline
	)
	f := newFleet(t, Options{MCPSessions: true, MCPMetrics: true, SessionDrain: time.Hour}, false)
	ctx, cancel := context.WithTimeout(t.Context(), 2*waitTimeout)
	defer cancel()

	type session struct {
		cs   *mcp.ClientSession
		id   string
		inst string
	}
	sessions := make([]*session, n)
	errs := make(chan error, 8*n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			cs, err := f.connect(ctx, t, "")
			if err == nil {
				var inst string
				if inst, err = callText(ctx, cs, "whoami"); err == nil {
					sessions[i] = &session{cs: cs, id: cs.ID(), inst: inst}
				}
			}
			if err != nil {
				errs <- fmt.Errorf("session %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatal(<-errs)
	}
	on := map[string]int{}
	for _, s := range sessions {
		if s.id == "" || !strings.HasPrefix(s.inst, "blue-") {
			t.Fatalf("session %q on %s while blue is live", s.id, s.inst)
		}
		on[s.inst]++
	}
	if len(on) != 2 {
		t.Fatalf("sessions on %v, want both blue instances", on)
	}
	if got := f.inits[Blue].Load(); got != n {
		t.Fatalf("blue initialised %d sessions, want %d", got, n)
	}

	// Each session calls whoami in four phases; the switch happens while
	// the second phase runs, the drain deadline while the fourth does.
	var (
		ready [4]sync.WaitGroup
		gate  [4]chan struct{}
	)
	for p := range gate {
		gate[p] = make(chan struct{})
		ready[p].Add(n)
	}
	for i, s := range sessions {
		wg.Go(func() {
			marked := 0 // phases marked ready
			defer func() {
				for ; marked < 4; marked++ {
					ready[marked].Done() // after an error: do not hold the others up
				}
			}()
			for p := range 4 {
				<-gate[p]
				for c := range phase {
					got, err := callText(ctx, s.cs, "whoami")
					if err == nil && got != s.inst {
						err = fmt.Errorf("served by %s, want %s", got, s.inst)
					}
					if err != nil {
						errs <- fmt.Errorf("session %d, phase %d, call %d: %w", i, p, c, err)
						return
					}
					if c == 0 {
						ready[p].Done()
						marked++
					}
				}
			}
		})
	}
	close(gate[0])
	ready[0].Wait()
	close(gate[1])
	ready[1].Wait() // every session is in the second phase
	if err := f.SetTable(LiveTable(Green)); err != nil {
		t.Fatal(err)
	}
	close(gate[2])
	ready[2].Wait()
	close(gate[3])
	ready[3].Wait()
	// The drain deadline: what started before the switch (the sessions'
	// standalone event streams) ends cleanly; the SDK client reconnects
	// them, to the instance that holds the session.
	timers := f.timers.all()
	if len(timers) != 1 {
		t.Fatalf("%d drain timers, want 1", len(timers))
	}
	timers[0].f()
	wg.Wait()
	collect(t, errs)
	errs = make(chan error, 8*n)

	// After the drain, every session still works on its instance.
	for i, s := range sessions {
		wg.Go(func() {
			if got, err := callText(ctx, s.cs, "whoami"); err != nil || got != s.inst {
				errs <- fmt.Errorf("session %d after the drain deadline: %q, %v; want %s", i, got, err, s.inst)
			}
			if s.cs.ID() != s.id {
				errs <- fmt.Errorf("session %d changed id: %s, want %s", i, s.cs.ID(), s.id)
			}
		})
	}
	wg.Wait()
	collect(t, errs)
	if got := f.inits[Blue].Load(); got != n {
		t.Fatalf("blue initialised %d sessions by the end, want %d: a session started over", got, n)
	}
	if got := f.inits[Green].Load(); got != 0 {
		t.Fatalf("green initialised %d sessions before any new one, want 0", got)
	}
	perSession := 1 + 4*phase + 1
	if got := f.mcpCount(Blue, "tools/call", "whoami", mcpOK); got != n*perSession {
		t.Errorf("blue whoami ok calls %d, want %d", got, n*perSession)
	}
	if got := f.mcpCount(Green, "tools/call", "whoami", mcpOK); got != 0 {
		t.Errorf("green whoami calls %d, want 0", got)
	}

	// New sessions land on green.
	for i := range 5 {
		cs, err := f.connect(ctx, t, "")
		if err != nil {
			t.Fatalf("new session %d: %v", i, err)
		}
		if got, err := callText(ctx, cs, "whoami"); err != nil || !strings.HasPrefix(got, "green-") {
			t.Fatalf("new session %d after the switch: %q, %v; want a green instance", i, got, err)
		}
	}
	st := f.Status()
	if b := st.Slots[Blue]; b.MCPSessions != n || b.CanScaleDown || b.SessionDrainDeadline.IsZero() {
		t.Fatalf("blue after the switch: %d sessions, can scale down %v, session drain until %v; want %d, false, set",
			b.MCPSessions, b.CanScaleDown, b.SessionDrainDeadline, n)
	}
	if g := st.Slots[Green]; g.MCPSessions != 5 || g.CanScaleDown {
		t.Fatalf("green: %d sessions, can scale down %v; want 5, false", g.MCPSessions, g.CanScaleDown)
	}

	// Blue's pins fall to zero as its sessions end (the client's DELETE).
	for i, s := range sessions {
		if err := s.cs.Close(); err != nil {
			t.Fatalf("close session %d: %v", i, err)
		}
		if got, want := f.Status().Slots[Blue].MCPSessions, int64(n-1-i); got != want {
			t.Fatalf("blue sessions after closing %d: %d, want %d", i+1, got, want)
		}
		if drained, _ := f.SessionsDrained(Blue); drained != (i == n-1) {
			t.Fatalf("blue drained after closing %d of %d: %v", i+1, n, drained)
		}
	}
	if b := f.Status().Slots[Blue]; !b.CanScaleDown {
		t.Fatalf("blue without sessions cannot scale down: %+v", b)
	}
}

// Fifty clients of a stateless (2026-07-28) SDK server, half of them in
// that revision (Mcp-Method and Mcp-Name headers) and half in 2025-11-25
// (the router reads the call from the body), call tools across a switch
// from blue to green with zero errors; bluegreen_mcp_requests_total counts
// every call per slot, method, tool and outcome.
func TestMCPStatelessFiftyAcrossLiveSwitch(t *testing.T) {
	const (
		n     = 50
		calls = 12 // per client: whoami and search in turn
	)
	f := newFleet(t, Options{MCPSessions: true, MCPMetrics: true}, true)
	ctx, cancel := context.WithTimeout(t.Context(), 2*waitTimeout)
	defer cancel()

	clients := make([]*mcp.ClientSession, n)
	errs := make(chan error, 4*n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			version := "2026-07-28"
			if i%2 == 1 {
				version = "2025-11-25"
			}
			cs, err := f.connect(ctx, t, version)
			if err != nil {
				errs <- fmt.Errorf("client %d (%s): %w", i, version, err)
				return
			}
			clients[i] = cs
		})
	}
	wg.Wait()
	collect(t, errs)
	if got := f.Status().Slots[Blue].MCPSessions + f.Status().Slots[Green].MCPSessions; got != 0 {
		t.Fatalf("%d sessions pinned by a stateless server", got)
	}

	errs = make(chan error, 4*n)
	var (
		started   sync.WaitGroup
		switched  = make(chan struct{})
		mu        sync.Mutex
		servedBy  = map[string]int{}
		afterOnBl int
	)
	started.Add(n)
	for i, cs := range clients {
		wg.Go(func() {
			begun := false
			defer func() {
				if !begun {
					started.Done() // after an error: do not hold the switch up
				}
			}()
			for c := range calls {
				if c == calls/2 {
					<-switched
				}
				tool := "whoami"
				if c%2 == 1 {
					tool = "search"
				}
				got, err := callText(ctx, cs, tool)
				if err != nil {
					errs <- fmt.Errorf("client %d, call %d: %w", i, c, err)
					return
				}
				if c == 0 {
					started.Done()
					begun = true
				}
				if tool == "whoami" {
					mu.Lock()
					servedBy[got[:strings.IndexByte(got, '-')]]++
					if c >= calls/2 && strings.HasPrefix(got, "blue-") {
						afterOnBl++
					}
					mu.Unlock()
				}
			}
		})
	}
	started.Wait()
	if err := f.SetTable(LiveTable(Green)); err != nil {
		t.Fatal(err)
	}
	close(switched)
	wg.Wait()
	collect(t, errs)
	if servedBy["blue"] == 0 || servedBy["green"] == 0 || afterOnBl > 0 {
		t.Fatalf("whoami served by %v, %d on blue after the switch; want both slots, none on blue after", servedBy, afterOnBl)
	}

	// Every call is counted once, on the slot that answered, per tool.
	for _, tool := range []string{"whoami", "search"} {
		total := f.mcpCount(Blue, "tools/call", tool, mcpOK) + f.mcpCount(Green, "tools/call", tool, mcpOK)
		if total != n*calls/2 {
			t.Errorf("%s ok calls %d, want %d", tool, total, n*calls/2)
		}
	}
	if got := f.mcpCount(Blue, "tools/call", "whoami", mcpOK) + f.mcpCount(Green, "tools/call", "whoami", mcpOK); got != servedBy["blue"]+servedBy["green"] {
		t.Errorf("whoami counted %d, clients saw %d", got, servedBy["blue"]+servedBy["green"])
	}
	if got := f.mcpCount(Blue, "tools/call", "whoami", mcpOK); got != servedBy["blue"] {
		t.Errorf("blue whoami counted %d, clients saw %d on blue", got, servedBy["blue"])
	}

	// The other outcomes: a tool error, a JSON-RPC error (an unknown
	// tool), an HTTP error (the slot has no instance left).
	for i, version := range []string{"2026-07-28", "2025-11-25"} {
		cs := clients[i]
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "fail", Arguments: map[string]any{}})
		if err != nil || !res.IsError {
			t.Fatalf("%s: call fail: %+v, %v; want a tool error", version, res, err)
		}
		if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "no-such-tool", Arguments: map[string]any{}}); err == nil {
			t.Fatalf("%s: call of an unknown tool succeeded", version)
		}
	}
	if got := f.mcpCount(Green, "tools/call", "fail", mcpToolError); got != 2 {
		t.Errorf("green fail tool errors %d, want 2", got)
	}
	// An unknown tool is a 400 to a 2026-07-28 client (its Mcp-Name names
	// no tool), a JSON-RPC error to an older one; its name is no label.
	if got := f.mcpCount(Green, "tools/call", labelOther, mcpHTTPError); got != 1 {
		t.Errorf("green unknown-tool HTTP errors %d, want 1 (2026-07-28 client)", got)
	}
	if got := f.mcpCount(Green, "tools/call", labelOther, mcpJSONRPCError); got != 1 {
		t.Errorf("green unknown-tool JSON-RPC errors %d, want 1 (2025-11-25 client)", got)
	}
	f.SetBackends(Green, nil, false)
	if _, err := clients[0].CallTool(ctx, &mcp.CallToolParams{Name: "search", Arguments: map[string]any{}}); err == nil {
		t.Fatal("call with no instance in the slot succeeded")
	}
	if got := f.mcpCount(Green, "tools/call", "search", mcpHTTPError); got != 1 {
		t.Errorf("green search HTTP errors %d, want 1", got)
	}
	if got := f.mcpCount(Blue, "server/discover", "", mcpOK) + f.mcpCount(Blue, "initialize", "", mcpOK); got == 0 {
		t.Error("no server/discover or initialize counted on blue")
	}
}
