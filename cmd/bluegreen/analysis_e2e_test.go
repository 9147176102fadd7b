package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/analysis"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// Analysis end to end: the router measures both slots under generated
// load, the controller judges every 2s window, and a bad v2 is rolled back
// by itself.

const analysisInterval = 2 * time.Second

func analysisYAML(rules ...string) string {
	return "analysis:\n  interval: 2s\n  min_requests: 20\n  on_inconclusive: pause\n  rules:\n    - " +
		strings.Join(rules, "\n    - ") + "\n"
}

const (
	ruleErrors     = "{ metric: error_rate, max: 1%, max_ratio_to_live: 2 }"
	ruleLatencyP99 = "{ metric: latency_p99, max_ratio_to_live: 1.5 }"
	ruleLatencyP50 = "{ metric: latency_p50, max_ratio_to_live: 2 }"
	analysisSteps  = "linear 50% every 4s"
)

// eventVerdict decodes the analysis verdict in an event's data.
func eventVerdict(t *testing.T, ev store.Event) analysis.Verdict {
	t.Helper()
	var data struct {
		Analysis *analysis.Verdict `json:"analysis"`
	}
	if err := json.Unmarshal(ev.Data, &data); err != nil {
		t.Fatalf("event data %s: %v", ev.Data, err)
	}
	if data.Analysis == nil {
		t.Fatalf("%s event without a verdict: %s", ev.Phase, ev.Data)
	}
	return *data.Analysis
}

func eventIn(t *testing.T, evs []store.Event, phase string) store.Event {
	t.Helper()
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Phase == phase {
			return evs[i]
		}
	}
	t.Fatalf("no %s event in %v", phase, phasesOf(evs))
	return store.Event{}
}

func TestAnalysisRollsBackABadRelease(t *testing.T) {
	for _, tc := range []struct {
		name      string
		shopArgs  []string
		rule      string
		decidedBy string
	}{
		{"5% errors", []string{"--fail-rate", "0.05", "--bad-version", "v2"}, ruleErrors, "error_rate max 1% max_ratio_to_live 2"},
		{"+100ms latency", []string{"--latency", "100ms", "--bad-version", "v2"}, ruleLatencyP99, "latency_p99 max_ratio_to_live 1.5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newApp(t, appOptions{bake: "1s", shopArgs: tc.shopArgs, extra: analysisYAML(tc.rule)})
			a.start()
			if out, code := a.deployWait("v1"); code != 0 {
				t.Fatalf("deploy v1: exit %d\n%s", code, out)
			}
			l := startLoadOn(t, a.prod, 8)
			out, code := a.deployWait("v2", "--strategy", analysisSteps)
			l.stop()
			if code != 1 {
				t.Fatalf("deploy v2: exit %d, want 1 (rolled back)\n%s", code, out)
			}
			h := a.history()[0]
			if h.Version != "v2" || h.Phase != "rolled_back" {
				t.Fatalf("v2 ended %s (%s), want rolled_back", h.Phase, h.Reason)
			}
			shifting, back := eventIn(t, h.Events, "shifting"), eventIn(t, h.Events, "rolling_back")
			if took := back.Time.Sub(shifting.Time); took > 2*analysisInterval {
				t.Errorf("rolled back %s after traffic moved, want within two intervals (%s)", took, 2*analysisInterval)
			}
			v := eventVerdict(t, back)
			if v.Result != analysis.Fail || v.DecidedBy != tc.decidedBy || v.New.Requests < 20 || v.Live == nil || v.Live.Requests < 20 {
				t.Errorf("verdict %+v, want a fail by %s with both slots' numbers", v, tc.decidedBy)
			}
			if !strings.Contains(back.Reason, "analysis failed: "+tc.decidedBy) {
				t.Errorf("rolling_back reason %q", back.Reason)
			}

			// Afterwards clients see only v1.
			l2 := startLoadOn(t, a.prod, 2)
			waitFor(t, 30*time.Second, "100 answers after the rollback", func() bool { return l2.ok.Load() >= 100 })
			l2.check(t)
			if len(l2.versions) != 1 || l2.versions["v1"] == 0 {
				t.Errorf("after the rollback clients saw %v, want only v1", l2.versions)
			}
		})
	}
}

func TestAnalysisPromotesAHealthyRelease(t *testing.T) {
	a := newApp(t, appOptions{bake: "1s", extra: analysisYAML(ruleErrors, ruleLatencyP50)})
	a.start()
	if out, code := a.deployWait("v1"); code != 0 {
		t.Fatalf("deploy v1: exit %d\n%s", code, out)
	}
	l := startLoadOn(t, a.prod, 8)
	if out, code := a.deployWait("v2", "--strategy", analysisSteps); code != 0 {
		t.Fatalf("deploy v2: exit %d\n%s\n%+v", code, out, a.history()[0].Events)
	}
	l.check(t)
	h := a.history()[0]
	if h.Phase != "succeeded" {
		t.Fatalf("v2 ended %s (%s)", h.Phase, h.Reason)
	}
	for _, p := range []string{"baking", "succeeded"} {
		if v := eventVerdict(t, eventIn(t, h.Events, p)); v.Result != analysis.Pass || v.New.Requests < 20 {
			t.Errorf("%s event: verdict %s (%s), want pass on at least 20 requests", p, v.Result, v.Reason)
		}
	}
}

func TestAnalysisWithoutTrafficPauses(t *testing.T) {
	a := newApp(t, appOptions{bake: "1s", extra: analysisYAML(ruleErrors)})
	a.start()
	if out, code := a.deployWait("v1"); code != 0 {
		t.Fatalf("deploy v1: exit %d\n%s", code, out)
	}
	if out, errOut, code := a.cli("deploy", "v2", "--strategy", analysisSteps); code != 0 {
		t.Fatalf("deploy v2: exit %d\n%s%s", code, out, errOut)
	}
	waitFor(t, 30*time.Second, "v2 paused", func() bool {
		st := a.status()
		return st.Active != nil && st.Active.Phase == "paused"
	})
	st := a.status()
	want := "only 0 requests on " + string(st.Active.Slot) + " in 2s, need 20"
	if !strings.Contains(st.Active.Reason, "analysis inconclusive: "+want) {
		t.Errorf("paused with %q, want the reason %q", st.Active.Reason, want)
	}
	if v := st.Active.Analysis; v == nil || v.Result != analysis.Inconclusive || v.Reason != want {
		t.Errorf("status analysis = %+v, want inconclusive: %s", v, want)
	}
	if out, _, _ := a.cli("status"); !strings.Contains(out, want) {
		t.Errorf("status does not say why:\n%s", out)
	}
}

// startMCPLoad sends MCP tool calls to addr from clients goroutines until
// the test ends; it counts the answers.
func startMCPLoad(t *testing.T, addr string, clients int) *atomic.Int64 {
	ctx, cancel := context.WithCancel(context.Background())
	var answered atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for range clients {
		wg.Go(func() {
			for ctx.Err() == nil {
				req, err := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/mcp",
					strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{}}}`))
				if err != nil {
					t.Error(err)
					return
				}
				req.Header.Set("Content-Type", "application/json")
				res, err := client.Do(req)
				if err != nil {
					continue
				}
				_, _ = io.Copy(io.Discard, res.Body)
				_ = res.Body.Close()
				answered.Add(1)
				time.Sleep(5 * time.Millisecond) // pacing the load, not synchronisation
			}
		})
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	return &answered
}

// A v2 whose MCP tool fails inside HTTP 200 (isError: true) is rolled back.
func TestAnalysisRollsBackMCPToolErrors(t *testing.T) {
	a := newApp(t, appOptions{bake: "1s", shopArgs: []string{"--tool-error-rate", "0.05", "--bad-version", "v2"},
		extra: analysisYAML(ruleErrors)})
	a.start()
	if out, code := a.deployWait("v1"); code != 0 {
		t.Fatalf("deploy v1: exit %d\n%s", code, out)
	}
	startMCPLoad(t, a.prod, 8)
	if out, code := a.deployWait("v2", "--strategy", analysisSteps); code != 1 {
		t.Fatalf("deploy v2: exit %d, want 1 (rolled back)\n%s", code, out)
	}
	h := a.history()[0]
	if h.Phase != "rolled_back" {
		t.Fatalf("v2 ended %s (%s), want rolled_back", h.Phase, h.Reason)
	}
	v := eventVerdict(t, eventIn(t, h.Events, "rolling_back"))
	if v.Result != analysis.Fail || v.DecidedBy != "error_rate max 1% max_ratio_to_live 2" || v.New.Errors == 0 || v.Live == nil || v.Live.Errors != 0 {
		t.Errorf("verdict %+v, want a fail on error_rate from tool errors on v2 only", v)
	}
}

// syntheticYAML is an analysis section whose only traffic is synthetic:
// 40 requests a second to each slot, GET / and an MCP tool call in turn.
func syntheticYAML(rules ...string) string {
	return analysisYAML(rules...) + `  synthetic:
    rate: 40
    timeout: 2s
    requests:
      - { path: / }
      - mcp: { tool: search, arguments: { q: shoes } }
`
}

const ruleSearchErrors = "{ metric: error_rate, max: 1%, mcp_tool: search }"

// With synthetic traffic and no user at all, analysis still decides: a
// healthy v2 is promoted and a v2 whose tool fails is rolled back, each on
// the synthetic requests alone (a deployment without them pauses:
// TestAnalysisWithoutTrafficPauses).
func TestAnalysisSyntheticTraffic(t *testing.T) {
	t.Run("healthy", func(t *testing.T) {
		a := newApp(t, appOptions{bake: "1s", extra: syntheticYAML(ruleErrors, ruleLatencyP50, ruleSearchErrors)})
		a.start()
		if out, code := a.deployWait("v1"); code != 0 {
			t.Fatalf("deploy v1: exit %d\n%s", code, out)
		}
		if out, code := a.deployWait("v2", "--strategy", analysisSteps); code != 0 {
			t.Fatalf("deploy v2: exit %d, want 0 (promoted)\n%s\n%+v", code, out, a.history()[0].Events)
		}
		h := a.history()[0]
		if h.Phase != "succeeded" {
			t.Fatalf("v2 ended %s (%s)", h.Phase, h.Reason)
		}
		for _, p := range []string{"baking", "succeeded"} {
			v := eventVerdict(t, eventIn(t, h.Events, p))
			if v.Result != analysis.Pass || v.New.Requests != 0 || v.Synthetic == nil || v.Synthetic.New.Requests < 20 {
				t.Fatalf("%s event: verdict %s (%s), want a pass on synthetic requests only", p, v.Result, v.Reason)
			}
			if !strings.Contains(v.Reason, "passed on 0 user and ") {
				t.Errorf("%s event: reason %q does not give both sample sizes", p, v.Reason)
			}
			if r := v.Synthetic.Rules[2]; r.Filter != "mcp_tool search" || r.Result != analysis.Pass || r.Requests < 20 {
				t.Errorf("%s event: the tool's rule on synthetic calls: %+v", p, r)
			}
		}
		out, _, _ := a.cli("status")
		for _, want := range []string{"TRAFFIC", "error_rate mcp_tool search  synthetic"} {
			if !strings.Contains(out, want) {
				t.Errorf("status lacks %q:\n%s", want, out)
			}
		}
		// Synthetic requests are not user requests in the metrics either.
		user, synth := metricSum(t, a, "bluegreen_requests_total"), metricSum(t, a, "bluegreen_synthetic_requests_total")
		if synth < 80 || user >= 20 {
			t.Errorf("requests_total %v (the checks only), synthetic_requests_total %v; want them apart", user, synth)
		}
	})
	t.Run("failing tool", func(t *testing.T) {
		a := newApp(t, appOptions{bake: "1s", shopArgs: []string{"--tool-error-rate", "0.5", "--bad-version", "v2"},
			extra: syntheticYAML(ruleSearchErrors)})
		a.start()
		if out, code := a.deployWait("v1"); code != 0 {
			t.Fatalf("deploy v1: exit %d\n%s", code, out)
		}
		if out, code := a.deployWait("v2", "--strategy", analysisSteps); code != 1 {
			t.Fatalf("deploy v2: exit %d, want 1 (rolled back)\n%s", code, out)
		}
		h := a.history()[0]
		if h.Phase != "rolled_back" {
			t.Fatalf("v2 ended %s (%s), want rolled_back", h.Phase, h.Reason)
		}
		back := eventIn(t, h.Events, "rolling_back")
		v := eventVerdict(t, back)
		if v.Result != analysis.Fail || v.DecidedOn != "synthetic" || v.DecidedBy != "error_rate max 1% mcp_tool search" ||
			v.New.Requests != 0 || v.Synthetic == nil || v.Synthetic.New.Errors == 0 || v.Synthetic.Live.Errors != 0 {
			t.Errorf("verdict %+v, want a fail on v2's synthetic tool calls", v)
		}
		if !strings.Contains(back.Reason, "on synthetic requests (0 user and ") {
			t.Errorf("rolling_back reason %q", back.Reason)
		}
	})
}

// metricSum adds up every sample of a counter on serve's /metrics.
func metricSum(t *testing.T, a *app, name string) float64 {
	t.Helper()
	res, err := http.Get("http://" + a.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}
