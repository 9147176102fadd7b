package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/bluegreen-dev/bluegreen/internal/router"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// mcpWire watches one SDK client session on the wire: the initialize
// requests it sends, the slot (X-Bluegreen-Slot) of every answer, and the
// answers that were HTTP errors.
type mcpWire struct {
	next http.RoundTripper

	mu          sync.Mutex
	initializes int
	slots       map[string]int
	httpErrors  []string
}

func (w *mcpWire) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPost && req.Body != nil {
		body, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		if bytes.Contains(body, []byte(`"method":"initialize"`)) {
			w.mu.Lock()
			w.initializes++
			w.mu.Unlock()
		}
	}
	res, err := w.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.slots[res.Header.Get(router.HeaderSlot)]++
	if res.StatusCode >= 400 {
		w.httpErrors = append(w.httpErrors, fmt.Sprintf("%s: %s", req.Method, res.Status))
	}
	w.mu.Unlock()
	return res, nil
}

// check reports what is wrong with the session's traffic: more or fewer
// than one initialize, an HTTP error, an answer from a slot other than want.
func (w *mcpWire) check(want string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var errs []string
	if w.initializes != 1 {
		errs = append(errs, fmt.Sprintf("%d initialize requests, want 1", w.initializes))
	}
	if len(w.httpErrors) > 0 {
		errs = append(errs, fmt.Sprintf("HTTP errors %v", w.httpErrors))
	}
	for slot, n := range w.slots {
		if slot != want {
			errs = append(errs, fmt.Sprintf("%d answers from slot %q, want all from %s", n, slot, want))
		}
	}
	if w.slots[want] == 0 {
		errs = append(errs, "no answer from "+want)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(errs, "; "))
}

// openWatchedMCPSession connects one SDK client session through bluegreen
// with its traffic watched. The caller closes the session.
func openWatchedMCPSession(ctx context.Context, addr string, rt http.RoundTripper) (*mcpSession, *mcpWire, error) {
	w := &mcpWire{next: rt, slots: map[string]int{}}
	c := mcp.NewClient(&mcp.Implementation{Name: "e2e-switch-client", Version: "1"}, nil)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint:   "http://" + addr + "/mcp",
		HTTPClient: &http.Client{Transport: w},
	}, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("connect: %w", err)
	}
	s := &mcpSession{cs: cs, id: cs.ID(), version: cs.InitializeResult().ServerInfo.Version}
	if s.id == "" {
		_ = cs.Close()
		return nil, nil, fmt.Errorf("the example app issued no session id")
	}
	return s, w, nil
}

var mcpRequestsLine = regexp.MustCompile(`^bluegreen_mcp_requests_total\{method="([^"]*)",outcome="([^"]*)",slot="([^"]*)",tool="([^"]*)"\} (\S+)$`)

// mcpRequestCounts reads bluegreen_mcp_requests_total from serve's admin
// /metrics, keyed "slot method outcome" (tools summed).
func mcpRequestCounts(t *testing.T, admin string) map[string]int {
	t.Helper()
	res, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, line := range strings.Split(string(body), "\n") {
		m := mcpRequestsLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		v, err := strconv.ParseFloat(m[5], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		counts[m[3]+" "+m[1]+" "+m[2]] += int(v)
	}
	return counts
}

// Fifty SDK client sessions, initialised on blue (two real mcp-app
// instances), keep calling tools while `bluegreen route --live green`
// switches production to green (two more instances): every call succeeds,
// on the instance that created the session, without a second initialize.
// Sessions opened after the switch are green's. Blue's pinned-session
// count falls with each batch of sessions that ends, down to zero.
func TestMCPFiftySessionsAcrossSwitchE2E(t *testing.T) {
	const (
		sessions    = 50
		callsBefore = 3 // per session, before the switch
		callsAfter  = 3 // per session, at least, after the switch
		fresh       = 10
		batches     = 5
	)
	a := newMCPBluegreen(t)
	a.start()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	waitFor(t, 30*time.Second, "both slots healthy", func() bool {
		st := a.status()
		return st.Router.Slots[slot.Blue].Healthy == 2 && st.Router.Slots[slot.Green].Healthy == 2
	})

	rt := &http.Transport{MaxIdleConnsPerHost: 2 * sessions}
	t.Cleanup(rt.CloseIdleConnections)

	// Each session: open, call callsBefore times, report ready; keep
	// calling until the switch is done, then callsAfter more calls.
	type result struct {
		s     *mcpSession
		w     *mcpWire
		calls int
		err   error
	}
	results := make([]result, sessions)
	var ready, done sync.WaitGroup
	switched := make(chan struct{})
	ready.Add(sessions)
	for i := range sessions {
		done.Go(func() {
			r := &results[i]
			readied := false
			defer func() {
				if !readied {
					ready.Done()
				}
			}()
			r.s, r.w, r.err = openWatchedMCPSession(ctx, a.prod, rt)
			if r.err != nil {
				return
			}
			if r.s.version != "v1" {
				r.err = fmt.Errorf("session %s initialised by %s while blue (v1) is live", r.s.id, r.s.version)
				return
			}
			call := func() bool {
				if err := r.s.search(ctx); err != nil {
					r.err = fmt.Errorf("call %d: %w", r.calls+1, err)
					return false
				}
				r.calls++
				return true
			}
			for range callsBefore {
				if !call() {
					return
				}
			}
			readied = true
			ready.Done()
			for {
				select {
				case <-switched:
					for range callsAfter {
						if !call() {
							return
						}
					}
					return
				case <-ctx.Done():
					r.err = fmt.Errorf("waiting for the switch: %w", ctx.Err())
					return
				default:
					if !call() {
						return
					}
				}
			}
		})
	}
	t.Cleanup(func() {
		cancel()
		done.Wait()
		for _, r := range results {
			if r.s != nil {
				_ = r.s.cs.Close()
			}
		}
	})
	ready.Wait()
	if ctx.Err() != nil {
		t.Fatalf("sessions not ready: %v", ctx.Err())
	}
	if st := a.status(); st.Router.Slots[slot.Blue].MCPSessions != sessions {
		t.Errorf("before the switch blue has %d pinned MCP sessions, want %d", st.Router.Slots[slot.Blue].MCPSessions, sessions)
	}

	// The switch, while the sessions are calling.
	out, errOut, code := a.cli("route", "--live", "green")
	close(switched)
	if code != 0 {
		t.Errorf("route --live green: exit %d\n%s%s", code, out, errOut)
	}
	done.Wait()
	total := 0
	for i, r := range results {
		if r.err != nil {
			t.Errorf("session %d: %v", i, r.err)
			continue
		}
		if err := r.w.check("blue"); err != nil {
			t.Errorf("session %d (%s): %v", i, r.s.id, err)
		}
		total += r.calls
	}
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%d tool calls in %d sessions across the switch", total, sessions)

	// Sessions opened after the switch are green's, and stay there.
	for i := range fresh {
		s, w, err := openWatchedMCPSession(ctx, a.prod, rt)
		if err != nil {
			t.Fatalf("new session %d after the switch: %v", i, err)
		}
		if s.version != "v2" {
			t.Errorf("new session %d after the switch initialised by %s, want green's v2", i, s.version)
		}
		if err := s.search(ctx); err != nil {
			t.Errorf("new session %d: %v", i, err)
		}
		if err := s.cs.Close(); err != nil {
			t.Errorf("close new session %d: %v", i, err)
		}
		if err := w.check("green"); err != nil {
			t.Errorf("new session %d (%s): %v", i, s.id, err)
		}
	}

	// The router saw the same: one initialize per session, on its slot;
	// no MCP call failed on blue.
	counts := mcpRequestCounts(t, a.admin)
	if n := counts["blue initialize ok"]; n != sessions {
		t.Errorf("router counted %d initialize calls on blue, want %d", n, sessions)
	}
	if n := counts["green initialize ok"]; n != fresh {
		t.Errorf("router counted %d initialize calls on green, want %d", n, fresh)
	}
	if n := counts["blue tools/call ok"]; n != total {
		t.Errorf("router counted %d ok tool calls on blue, want %d", n, total)
	}
	for k, n := range counts {
		if !strings.HasSuffix(k, " ok") && n > 0 {
			t.Errorf("router counted %d MCP calls %q", n, k)
		}
	}

	// Blue's sessions end, batch by batch; its pinned count follows.
	per := sessions / batches
	for b := range batches {
		for _, r := range results[b*per : (b+1)*per] {
			if err := r.s.cs.Close(); err != nil {
				t.Fatalf("close session %s: %v", r.s.id, err)
			}
		}
		left := int64(sessions - (b+1)*per)
		waitFor(t, 10*time.Second, fmt.Sprintf("blue's pinned MCP sessions down to %d", left), func() bool {
			return a.status().Router.Slots[slot.Blue].MCPSessions == left
		})
	}
	st := a.status()
	if blue := st.Router.Slots[slot.Blue]; blue.MCPSessions != 0 || !blue.CanScaleDown {
		t.Fatalf("blue after its sessions ended: %d sessions, can scale down %v", blue.MCPSessions, blue.CanScaleDown)
	}
	if green := st.Router.Slots[slot.Green]; green.MCPSessions != 0 {
		t.Errorf("green after its sessions ended: %d sessions pinned, want 0", green.MCPSessions)
	}
}
