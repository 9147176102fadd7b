package router

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// A slot that lost its traffic keeps serving its sessions; it is drained
// once none is left or the session drain is over — and even then its
// sessions keep going to it while it runs. Regaining traffic ends the
// drain; scale-down (its instances leave the pool) ends its sessions.
func TestSessionDrain(t *testing.T) {
	m := newMCPSlots(t, Options{SessionDrain: 10 * time.Minute})
	clock := &fakeClock{now: time.Unix(1_000_000, 0)}
	m.sessions.now = clock.Now
	if d := m.SessionDrainOf(Green); !d.Drained || !d.Deadline.IsZero() {
		t.Fatalf("idle green that never had traffic: %+v, want drained", d)
	}
	if d := m.SessionDrainOf(Blue); d.Drained {
		t.Fatalf("live blue: %+v, want not drained", d)
	}
	id, inst := m.open(t)
	if err := m.SetTable(LiveTable(Green)); err != nil {
		t.Fatal(err)
	}
	start := clock.Now()
	if d := m.SessionDrainOf(Blue); d.Drained || d.Sessions != 1 || !d.Deadline.Equal(start.Add(10*time.Minute)) {
		t.Fatalf("blue after the switch: %+v, want 1 session until 10m", d)
	}
	clock.advance(4 * time.Minute)
	if drained, left := m.SessionsDrained(Blue); drained || left != 6*time.Minute {
		t.Fatalf("blue after 4m: drained %v, %s left; want false, 6m", drained, left)
	}
	m.expectOn(t, id, inst, 2)
	st := m.Status().Slots[Blue]
	if st.CanScaleDown || st.MCPSessions != 1 || st.SessionDrainDeadline.IsZero() {
		t.Fatalf("blue status %+v, want 1 session, cannot scale down", st)
	}

	clock.advance(6 * time.Minute)
	if d := m.SessionDrainOf(Blue); !d.Drained || d.Sessions != 1 {
		t.Fatalf("blue at the deadline: %+v, want drained with its session", d)
	}
	m.expectOn(t, id, inst, 2) // still served where it lives

	// Traffic back on blue: no drain; green, which never had a session,
	// is drained at once.
	if err := m.SetTable(LiveTable(Blue)); err != nil {
		t.Fatal(err)
	}
	if d := m.SessionDrainOf(Blue); d.Drained || !d.Deadline.IsZero() {
		t.Fatalf("blue live again: %+v", d)
	}
	if d := m.SessionDrainOf(Green); !d.Drained {
		t.Fatalf("green without sessions: %+v, want drained", d)
	}

	// Away again, then scaled down: the sessions end with the instances.
	if err := m.SetTable(LiveTable(Green)); err != nil {
		t.Fatal(err)
	}
	if d := m.SessionDrainOf(Blue); d.Drained {
		t.Fatalf("blue after the second switch: %+v, want a new drain", d)
	}
	m.SetBackends(Blue, nil, false)
	m.expectSessions(t, 0, 0)
	if d := m.SessionDrainOf(Blue); !d.Drained {
		t.Fatalf("blue scaled down: %+v, want drained", d)
	}
}

// Without a session_drain of its own, the session drain is the drain
// timeout; without MCP sessions a slot without traffic is drained.
func TestSessionDrainDefaults(t *testing.T) {
	m := newMCPSlots(t, Options{DrainTimeout: 42 * time.Second})
	if m.sessionDrainTimeout != 42*time.Second {
		t.Fatalf("session drain %s, want the drain timeout", m.sessionDrainTimeout)
	}
	plain := newTestRouter(t, Options{}, false)
	if drained, _ := plain.SessionsDrained(Green); !drained {
		t.Fatal("green without traffic or sessions is not drained")
	}
	if drained, _ := plain.SessionsDrained(Blue); drained {
		t.Fatal("live blue is drained")
	}
}

// EndSessions releases a slot's sessions before it stops: their next
// requests route normally.
func TestEndSessions(t *testing.T) {
	m := newMCPSlots(t, Options{})
	id, _ := m.open(t)
	m.open(t)
	if err := m.SetTable(LiveTable(Green)); err != nil {
		t.Fatal(err)
	}
	if n := m.EndSessions(Blue); n != 2 {
		t.Fatalf("ended %d sessions, want 2", n)
	}
	m.expectSessions(t, 0, 0)
	if code, body, _ := mcpCall(t, http.MethodPost, m.prod.URL+"/mcp", id); code != http.StatusNotFound || !strings.HasPrefix(body, "session not found") {
		t.Fatalf("released session: %d %q, want 404 from green", code, body)
	}
	if n := m.EndSessions("red"); n != 0 {
		t.Fatalf("ended %d sessions of an invalid slot", n)
	}
}
