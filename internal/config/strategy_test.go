package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseStrategy(t *testing.T) {
	cases := []struct {
		in   string
		want Strategy
		str  string
	}{
		{"all-at-once", Strategy{Kind: StrategyAllAtOnce}, "all-at-once"},
		{"  All-At-Once ", Strategy{Kind: StrategyAllAtOnce}, "all-at-once"},
		{"linear 10% every 3m", Strategy{Kind: StrategyLinear, Percent: 10, Interval: 3 * time.Minute}, "linear 10% every 3m"},
		{"linear 30% every 90s", Strategy{Kind: StrategyLinear, Percent: 30, Interval: 90 * time.Second}, "linear 30% every 1m30s"},
		{"canary 5% for 10m", Strategy{Kind: StrategyCanary, Percent: 5, Interval: 10 * time.Minute}, "canary 5% for 10m"},
		{"linear 100% every 1s", Strategy{Kind: StrategyLinear, Percent: 100, Interval: time.Second}, "linear 100% every 1s"},
	}
	for _, tc := range cases {
		got, err := ParseStrategy(tc.in)
		if err != nil {
			t.Errorf("ParseStrategy(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseStrategy(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
		if s := got.String(); s != tc.str {
			t.Errorf("String() = %q, want %q", s, tc.str)
		}
		if again, err := ParseStrategy(got.String()); err != nil || again != got {
			t.Errorf("round trip of %q: %+v, %v", got, again, err)
		}
	}
	bad := map[string]string{
		"":                        "empty strategy",
		"blue-green":              "want all-at-once",
		"all-at-once 10%":         "takes no arguments",
		"linear 10%":              `want "linear N% every D"`,
		"linear 10% for 3m":       `want "linear N% every D"`,
		"canary 5% every 3m":      `want "canary N% for D"`,
		"linear 10 every 3m":      "needs a % sign",
		"linear 0% every 3m":      "linear step must be from 1% to 100%",
		"linear 120% every 3m":    "must be from 0% to 100%",
		"canary 100% for 1m":      "canary weight must be from 1% to 99%",
		"linear 10% every 0s":     "interval must be positive",
		"linear 10% every soon":   `invalid duration "soon"`,
		"canary 5% for 10":        "add a unit",
		"linear 10.5% every 3m":   "whole number",
		"linear -10% every 3m":    "must be from 0% to 100%",
		"canary 5% for 10m extra": `want "canary N% for D"`,
	}
	for in, want := range bad {
		_, err := ParseStrategy(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseStrategy(%q): %v, want an error containing %q", in, err, want)
		}
	}
}

func TestSteps(t *testing.T) {
	m := time.Minute
	cases := []struct {
		in   string
		want []Step
	}{
		{"all-at-once", []Step{{100, 0}}},
		{"linear 10% every 3m", []Step{{10, 3 * m}, {20, 3 * m}, {30, 3 * m}, {40, 3 * m}, {50, 3 * m}, {60, 3 * m}, {70, 3 * m}, {80, 3 * m}, {90, 3 * m}, {100, 0}}},
		{"linear 30% every 1m", []Step{{30, m}, {60, m}, {90, m}, {100, 0}}},
		{"linear 50% every 1m", []Step{{50, m}, {100, 0}}},
		{"linear 60% every 1m", []Step{{60, m}, {100, 0}}},
		{"linear 100% every 1m", []Step{{100, 0}}},
		{"canary 5% for 10m", []Step{{5, 10 * m}, {100, 0}}},
	}
	for _, tc := range cases {
		s, err := ParseStrategy(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Steps(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: Steps() = %v, want %v", tc.in, got, tc.want)
		}
	}
	// A strategy built wrong in code still ends at 100% and never loops.
	for _, s := range []Strategy{{}, {Kind: StrategyLinear}, {Kind: StrategyCanary, Percent: 5}} {
		if got := s.Steps(); !reflect.DeepEqual(got, []Step{{100, 0}}) {
			t.Errorf("%+v: Steps() = %v", s, got)
		}
	}
}
