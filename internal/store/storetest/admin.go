package storetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/store"
)

func testAudit(t *testing.T, open Opener) {
	s := open(t)
	ctx := t.Context()
	if got, err := s.ListAudit(ctx, "shop", 0); err != nil || len(got) != 0 {
		t.Fatalf("audit before any append = %+v, %v; want none", got, err)
	}
	at := time.Date(2026, 3, 1, 10, 0, 0, 123456789, time.FixedZone("CET", 3600))
	var want []store.AuditEntry
	for i, a := range []string{"login", "deploy", "route"} {
		e := store.AuditEntry{
			App: "shop", Actor: "session:ab12cd34", Action: a,
			Args:   json.RawMessage(fmt.Sprintf(`{"n": %d, "version": "v2"}`, i)),
			Result: "ok", Remote: "192.0.2.7:51234",
		}
		if i == 1 {
			e.Time = at
			e.Actor, e.Result = "token", "a deployment is already active"
		}
		if err := s.AppendAudit(ctx, &e); err != nil {
			t.Fatalf("append audit %s: %v", a, err)
		}
		if e.ID == 0 || e.Time.IsZero() {
			t.Fatalf("append audit %s: ID %d, Time %v not set", a, e.ID, e.Time)
		}
		want = append(want, e)
	}
	other := store.AuditEntry{App: "blog", Actor: "token", Action: "pause", Result: "ok"}
	if err := s.AppendAudit(ctx, &other); err != nil {
		t.Fatalf("append audit of another app: %v", err)
	}
	bad := store.AuditEntry{App: "shop", Actor: "token", Action: "deploy", Args: json.RawMessage(`{no`)}
	if err := s.AppendAudit(ctx, &bad); err == nil {
		t.Fatalf("append audit with invalid JSON args: no error")
	}
	got, err := s.ListAudit(ctx, "shop", 0)
	if err != nil {
		t.Fatalf("list audit: %v", err)
	}
	if len(got) != 3 {
		t.Fatalf("audit of shop = %d entries %+v, want 3", len(got), got)
	}
	for i, g := range got {
		w := want[len(want)-1-i] // newest first
		if g.ID != w.ID || g.App != w.App || g.Actor != w.Actor || g.Action != w.Action || g.Result != w.Result || g.Remote != w.Remote {
			t.Errorf("audit %d = %+v, want %+v", i, g, w)
		}
		if !jsonEqual(t, g.Args, w.Args) {
			t.Errorf("audit %d args = %s, want %s", i, g.Args, w.Args)
		}
		checkTime(t, fmt.Sprintf("audit %d time", i), w.Time, g.Time)
	}
	checkTime(t, "audit time given", at.UTC().Truncate(time.Microsecond), got[1].Time)
	if got, err := s.ListAudit(ctx, "shop", 2); err != nil || len(got) != 2 || got[0].Action != "route" {
		t.Errorf("audit limit 2 = %+v, %v; want route, deploy", got, err)
	}
	closeStore(t, s)
	s2 := open(t)
	defer closeStore(t, s2)
	if got, err := s2.ListAudit(ctx, "shop", 0); err != nil || len(got) != 3 {
		t.Errorf("audit after reopen = %d entries, %v; want 3", len(got), err)
	}
}

func testAdminSessions(t *testing.T, open Opener) {
	s := open(t)
	ctx := t.Context()
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	live := store.AdminSession{Key: "aa", CSRF: "csrf-a", Created: t0, Expires: t0.Add(12 * time.Hour)}
	gone := store.AdminSession{Key: "bb", CSRF: "csrf-b", Created: t0.Add(-13 * time.Hour), Expires: t0.Add(-time.Hour)}
	later := store.AdminSession{Key: "cc", CSRF: "csrf-c", Created: t0.Add(time.Minute), Expires: t0.Add(time.Hour)}
	for _, a := range []store.AdminSession{later, gone, live} {
		if err := s.SaveAdminSession(ctx, "shop", a); err != nil {
			t.Fatalf("save admin session %s: %v", a.Key, err)
		}
	}
	if err := s.SaveAdminSession(ctx, "blog", store.AdminSession{Key: "dd", CSRF: "x", Created: t0, Expires: t0.Add(time.Hour)}); err != nil {
		t.Fatalf("save admin session of another app: %v", err)
	}
	closeStore(t, s)
	s = open(t)
	defer closeStore(t, s)
	got, err := s.LoadAdminSessions(ctx, "shop", t0)
	if err != nil {
		t.Fatalf("load admin sessions: %v", err)
	}
	want := []store.AdminSession{live, later}
	if len(got) != len(want) {
		t.Fatalf("admin sessions = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Key != want[i].Key || got[i].CSRF != want[i].CSRF {
			t.Errorf("admin session %d = %+v, want %+v", i, got[i], want[i])
		}
		checkTime(t, "admin session created", want[i].Created, got[i].Created)
		checkTime(t, "admin session expires", want[i].Expires, got[i].Expires)
	}
	// The expired one was pruned: it stays gone even asked at its own time.
	if got, err := s.LoadAdminSessions(ctx, "shop", t0.Add(-2*time.Hour)); err != nil || len(got) != 2 {
		t.Errorf("admin sessions after prune, asked earlier = %+v, %v; want 2 (bb pruned)", got, err)
	}
	if err := s.DeleteAdminSession(ctx, "shop", "aa"); err != nil {
		t.Fatalf("delete admin session: %v", err)
	}
	if err := s.DeleteAdminSession(ctx, "shop", "unknown"); err != nil {
		t.Errorf("delete unknown admin session: %v", err)
	}
	if got, err := s.LoadAdminSessions(ctx, "shop", t0); err != nil || len(got) != 1 || got[0].Key != "cc" {
		t.Errorf("admin sessions after delete = %+v, %v; want cc", got, err)
	}
	if got, err := s.LoadAdminSessions(ctx, "blog", t0); err != nil || len(got) != 1 {
		t.Errorf("admin sessions of another app = %+v, %v; want 1", got, err)
	}
}
