package config

import (
	"fmt"
	"strings"
	"time"
)

// StrategyKind names how traffic moves to the new slot.
type StrategyKind string

// The strategy kinds.
const (
	StrategyAllAtOnce StrategyKind = "all-at-once" // 100% at once
	StrategyLinear    StrategyKind = "linear"      // +Percent every Interval
	StrategyCanary    StrategyKind = "canary"      // Percent for Interval, then 100%
)

// Strategy is how a deployment shifts traffic: "all-at-once",
// "linear N% every D" or "canary N% for D". It is written as that text in
// YAML and JSON.
type Strategy struct {
	Kind StrategyKind
	// Percent is the step (linear) or the canary weight; unused for
	// all-at-once.
	Percent int
	// Interval is how long each step (linear) or the canary (canary) holds.
	Interval time.Duration
}

// Step is one traffic step: Weight percent of traffic on the new slot,
// held for Hold before the next step.
type Step struct {
	Weight int
	Hold   time.Duration
}

const strategyHelp = `want all-at-once, "linear N% every D" or "canary N% for D" (such as "linear 10% every 3m")`

// ParseStrategy parses "all-at-once", "linear N% every D" or
// "canary N% for D".
func ParseStrategy(s string) (Strategy, error) {
	f := strings.Fields(strings.ToLower(s))
	if len(f) == 0 {
		return Strategy{}, fmt.Errorf("empty strategy: %s", strategyHelp)
	}
	var st Strategy
	switch StrategyKind(f[0]) {
	case StrategyAllAtOnce:
		if len(f) != 1 {
			return Strategy{}, fmt.Errorf("invalid strategy %q: all-at-once takes no arguments", s)
		}
		return Strategy{Kind: StrategyAllAtOnce}, nil
	case StrategyLinear:
		st.Kind = StrategyLinear
		if len(f) != 4 || f[2] != "every" {
			return Strategy{}, fmt.Errorf("invalid strategy %q: want \"linear N%% every D\", such as \"linear 10%% every 3m\"", s)
		}
	case StrategyCanary:
		st.Kind = StrategyCanary
		if len(f) != 4 || f[2] != "for" {
			return Strategy{}, fmt.Errorf("invalid strategy %q: want \"canary N%% for D\", such as \"canary 5%% for 10m\"", s)
		}
	default:
		return Strategy{}, fmt.Errorf("invalid strategy %q: %s", s, strategyHelp)
	}
	if !strings.HasSuffix(f[1], "%") {
		return Strategy{}, fmt.Errorf("invalid strategy %q: the weight %q needs a %% sign, such as 10%%", s, f[1])
	}
	p, err := ParsePercent(f[1])
	if err != nil {
		return Strategy{}, fmt.Errorf("invalid strategy %q: %w", s, err)
	}
	d, err := parseDuration(f[3])
	if err != nil {
		return Strategy{}, fmt.Errorf("invalid strategy %q: %w", s, err)
	}
	st.Percent, st.Interval = int(p), d
	if err := st.check(); err != nil {
		return Strategy{}, fmt.Errorf("invalid strategy %q: %w", s, err)
	}
	return st, nil
}

// check reports what is wrong with a parsed or hand-built strategy.
func (s Strategy) check() error {
	switch s.Kind {
	case StrategyAllAtOnce:
		return nil
	case StrategyLinear:
		if s.Percent < 1 || s.Percent > 100 {
			return fmt.Errorf("linear step must be from 1%% to 100%%, not %d%%", s.Percent)
		}
	case StrategyCanary:
		if s.Percent < 1 || s.Percent > 99 {
			return fmt.Errorf("canary weight must be from 1%% to 99%%, not %d%% (use all-at-once for 100%%)", s.Percent)
		}
	default:
		return fmt.Errorf("unknown strategy kind %q: %s", s.Kind, strategyHelp)
	}
	if s.Interval <= 0 {
		return fmt.Errorf("%s interval must be positive", s.Kind)
	}
	return nil
}

// String writes s in the form ParseStrategy reads.
func (s Strategy) String() string {
	switch s.Kind {
	case StrategyAllAtOnce:
		return string(StrategyAllAtOnce)
	case StrategyLinear:
		return fmt.Sprintf("linear %d%% every %s", s.Percent, formatDuration(s.Interval))
	case StrategyCanary:
		return fmt.Sprintf("canary %d%% for %s", s.Percent, formatDuration(s.Interval))
	}
	return string(s.Kind)
}

// Steps is the traffic plan: the weight on the new slot at each step and
// how long to hold it. The last step is always 100% with Hold 0 (bake_time
// is separate). A strategy that is not valid yields that single step.
func (s Strategy) Steps() []Step {
	if s.check() != nil {
		return []Step{{Weight: 100}}
	}
	var steps []Step
	switch s.Kind {
	case StrategyAllAtOnce:
	case StrategyLinear:
		for w := s.Percent; w < 100; w += s.Percent {
			steps = append(steps, Step{Weight: w, Hold: s.Interval})
		}
	case StrategyCanary:
		steps = append(steps, Step{Weight: s.Percent, Hold: s.Interval})
	}
	return append(steps, Step{Weight: 100})
}

// MarshalText writes s as text.
func (s Strategy) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses s with ParseStrategy.
func (s *Strategy) UnmarshalText(b []byte) error {
	v, err := ParseStrategy(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

func (s *Strategy) describe() string { return "a strategy such as \"linear 10% every 3m\"" }
