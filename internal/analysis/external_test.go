package analysis

import "testing"

func TestCombine(t *testing.T) {
	pass := ProviderResult{Name: "p", Result: Pass, Reason: "ok"}
	fail := ProviderResult{Name: "f", Result: Fail, Reason: "conversion down"}
	inc := ProviderResult{Name: "i", Result: Inconclusive, Reason: "unreachable"}
	odd := ProviderResult{Name: "o", Result: "maybe", Reason: "?"}
	ruleFail := Verdict{Result: Fail, DecidedBy: "error_rate max 1%", Reason: "rule"}
	ruleInc := Verdict{Result: Inconclusive, DecidedBy: "min_requests", Reason: "few"}
	rulePass := Verdict{Result: Pass, Reason: "2 rules passed"}
	for _, tc := range []struct {
		name      string
		v         Verdict
		ps        []ProviderResult
		result    Result
		decidedBy string
		reason    string
	}{
		{"rules fail first", ruleFail, []ProviderResult{fail}, Fail, "error_rate max 1%", "rule"},
		{"provider fail beats inconclusive rules", ruleInc, []ProviderResult{pass, fail}, Fail, "provider f", "provider f: conversion down"},
		{"provider fail beats inconclusive provider", rulePass, []ProviderResult{inc, fail}, Fail, "provider f", "provider f: conversion down"},
		{"inconclusive rules stay", ruleInc, []ProviderResult{inc}, Inconclusive, "min_requests", "few"},
		{"inconclusive provider", rulePass, []ProviderResult{pass, inc}, Inconclusive, "provider i", "provider i: unreachable"},
		{"unknown result is no pass", rulePass, []ProviderResult{odd}, Inconclusive, "provider o", "provider o: ?"},
		{"all pass", rulePass, []ProviderResult{pass, pass}, Pass, "", "2 rules passed; 2 providers passed"},
		{"one passes", rulePass, []ProviderResult{pass}, Pass, "", "2 rules passed; 1 provider passed"},
		{"none", rulePass, nil, Pass, "", "2 rules passed"},
	} {
		got := Combine(tc.v, tc.ps)
		if got.Result != tc.result || got.DecidedBy != tc.decidedBy || got.Reason != tc.reason || len(got.Providers) != len(tc.ps) {
			t.Errorf("%s: %s by %q: %q (%d providers), want %s by %q: %q", tc.name, got.Result, got.DecidedBy, got.Reason,
				len(got.Providers), tc.result, tc.decidedBy, tc.reason)
		}
	}
}
