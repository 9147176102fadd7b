package verify

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/config"
)

// TestRunAll: results come in check order, one per kind; one failure
// fails the report; a check with no kind fails.
func TestRunAll(t *testing.T) {
	base := server(t, healthy)
	checks := []config.Check{
		httpCheck("health", config.HTTPCheck{Path: "/health"}),
		commandCheck("suite", "true"),
		commandCheck("failing", "false"),
		{Name: "empty"},
	}
	rep := NewRunner(checks, http.DefaultClient, nil).Run(context.Background(), Options{BaseURL: base, Slot: "green", Version: "v2"}, "")
	if rep.Passed || rep.Slot != "green" || rep.Version != "v2" {
		t.Errorf("report %+v", rep)
	}
	want := []struct{ name, kind, reason string }{
		{"health", "http", ""},
		{"suite", "command", ""},
		{"failing", "command", "false exit status 1; no output"},
		{"empty", "none", "check has no kind, or several: give it exactly one of http, mcp, browser or command"},
	}
	if len(rep.Results) != len(want) {
		t.Fatalf("got %d results, want %d", len(rep.Results), len(want))
	}
	for i, w := range want {
		r := rep.Results[i]
		if r.Name != w.name || r.Kind != w.kind || r.Reason != w.reason || r.Passed != (w.reason == "") {
			t.Errorf("result %d: got %+v, want %+v", i, r, w)
		}
	}
	b, err := json.Marshal(rep.Results[2])
	if err != nil || !strings.HasPrefix(string(b), `{"name":"failing","kind":"command","passed":false,"duration_ns":`) {
		t.Errorf("json: %s %v", b, err)
	}
}

func TestRunOnly(t *testing.T) {
	base := server(t, healthy)
	checks := []config.Check{
		httpCheck("a", config.HTTPCheck{Path: "/", Expect: config.HTTPExpect{Status: 500}}),
		httpCheck("b", config.HTTPCheck{Path: "/"}),
	}
	r := NewRunner(checks, nil, nil)
	rep := r.Run(context.Background(), Options{BaseURL: base}, "b")
	if !rep.Passed || len(rep.Results) != 1 || rep.Results[0].Name != "b" {
		t.Errorf("only b: %+v", rep)
	}
	rep = r.Run(context.Background(), Options{BaseURL: base}, "c")
	if rep.Passed || len(rep.Results) != 1 || rep.Results[0].Reason != `no check named "c" (have: a, b)` {
		t.Errorf("only c: %+v", rep)
	}
	rep = r.Run(context.Background(), Options{BaseURL: base}, "")
	if rep.Passed || len(rep.Results) != 2 || rep.Results[0].Reason != "status 200, want 500" {
		t.Errorf("all: %+v", rep)
	}
	if rep := NewRunner(nil, nil, nil).Run(context.Background(), Options{BaseURL: base}, ""); !rep.Passed || rep.Results == nil {
		t.Errorf("no checks: %+v", rep)
	}
}

// TestRunCancelled: a cancelled context fails the checks and stops
// retrying.
func TestRunCancelled(t *testing.T) {
	base := server(t, healthy)
	c := httpCheck("a", config.HTTPCheck{Path: "/"})
	c.Retries = 1000
	r := NewRunner([]config.Check{c}, nil, nil)
	r.retryDelay = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep := r.Run(ctx, Options{BaseURL: base}, "")
	if rep.Passed || !strings.Contains(rep.Results[0].Reason, "context canceled") {
		t.Errorf("got %+v", rep)
	}
}

func TestSelect(t *testing.T) {
	checks := []config.Check{{Name: "i", Slot: config.SlotIdle}, {Name: "l", Slot: config.SlotLive}, {Name: "b", Slot: config.SlotBoth}}
	names := func(cs []config.Check) string {
		var s []string
		for _, c := range cs {
			s = append(s, c.Name)
		}
		return strings.Join(s, ",")
	}
	if got := names(Select(checks, config.SlotIdle)); got != "i,b" {
		t.Errorf("idle: %s", got)
	}
	if got := names(Select(checks, config.SlotLive)); got != "l,b" {
		t.Errorf("live: %s", got)
	}
}
