package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// loadSessions loads app's pins and fails the test on error.
func loadSessions(t *testing.T, s store.Store, app string) []store.MCPSession {
	t.Helper()
	pins, err := s.LoadMCPSessions(t.Context(), app)
	if err != nil {
		t.Fatalf("load mcp sessions of %s: %v", app, err)
	}
	return pins
}

// checkSessions fails the test unless got holds exactly want, in order.
func checkSessions(t *testing.T, what string, want, got []store.MCPSession) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d pins %+v, want %d %+v", what, len(got), got, len(want), want)
	}
	for i := range want {
		w, g := want[i], got[i]
		if g.ID != w.ID || g.Slot != w.Slot || g.Instance != w.Instance {
			t.Errorf("%s: pin %d = %+v, want %+v", what, i, g, w)
		}
		checkTime(t, fmt.Sprintf("%s: pin %s LastUsed", what, w.ID), w.LastUsed, g.LastUsed)
	}
}

func testMCPSessions(t *testing.T, open Opener) {
	s := open(t)
	ctx := t.Context()
	if pins := loadSessions(t, s, "shop"); len(pins) != 0 {
		t.Fatalf("pins before any save = %+v, want none", pins)
	}
	if err := s.SaveMCPSessions(ctx, "shop", nil); err != nil {
		t.Fatalf("save no pins: %v", err)
	}
	if err := s.DeleteMCPSessions(ctx, "shop", nil); err != nil {
		t.Fatalf("delete no pins: %v", err)
	}

	base := time.Date(2031, 5, 6, 7, 8, 9, 123_456_000, time.UTC)
	a := store.MCPSession{ID: "a", Slot: "blue", Instance: "127.0.0.1:3001", LastUsed: base}
	b := store.MCPSession{ID: "b", Slot: "green", Instance: "127.0.0.1:3002", LastUsed: base.Add(time.Second)}
	c := store.MCPSession{ID: "c/with:odd chars", Slot: "blue", Instance: "", LastUsed: base.Add(2 * time.Second)}
	if err := s.SaveMCPSessions(ctx, "shop", []store.MCPSession{a, b, c}); err != nil {
		t.Fatalf("save pins: %v", err)
	}
	other := store.MCPSession{ID: "a", Slot: "green", Instance: "10.0.0.1:80", LastUsed: base}
	if err := s.SaveMCPSessions(ctx, "other", []store.MCPSession{other}); err != nil {
		t.Fatalf("save pin of other app: %v", err)
	}
	checkSessions(t, "after save", []store.MCPSession{c, b, a}, loadSessions(t, s, "shop"))

	// Upsert: a moves (an instance restarted on another port) and is used
	// again; the same id twice in one batch keeps the last.
	a.Instance, a.LastUsed = "127.0.0.1:3009", base.Add(time.Hour)
	stale := a
	stale.Instance = "127.0.0.1:1"
	if err := s.SaveMCPSessions(ctx, "shop", []store.MCPSession{stale, a}); err != nil {
		t.Fatalf("save pins again: %v", err)
	}
	checkSessions(t, "after upsert", []store.MCPSession{a, c, b}, loadSessions(t, s, "shop"))

	if err := s.DeleteMCPSessions(ctx, "shop", []string{"b", "unknown", "c/with:odd chars"}); err != nil {
		t.Fatalf("delete pins: %v", err)
	}
	checkSessions(t, "after delete", []store.MCPSession{a}, loadSessions(t, s, "shop"))
	checkSessions(t, "other app", []store.MCPSession{other}, loadSessions(t, s, "other"))

	// A large batch is one call, and pins survive a reopen.
	var many []store.MCPSession
	var ids []string
	for i := range 2000 {
		p := store.MCPSession{ID: fmt.Sprintf("s%04d", i), Slot: "green", Instance: "127.0.0.1:3002", LastUsed: base.Add(-time.Duration(i) * time.Second)}
		many = append(many, p)
		ids = append(ids, p.ID)
	}
	if err := s.SaveMCPSessions(ctx, "shop", many); err != nil {
		t.Fatalf("save %d pins: %v", len(many), err)
	}
	closeStore(t, s)
	s = open(t)
	got := loadSessions(t, s, "shop")
	checkSessions(t, "after reopen", append([]store.MCPSession{a}, many...), got)
	if err := s.DeleteMCPSessions(ctx, "shop", ids); err != nil {
		t.Fatalf("delete %d pins: %v", len(ids), err)
	}
	checkSessions(t, "after deleting the batch", []store.MCPSession{a}, loadSessions(t, s, "shop"))
}
