package analysis

import (
	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// Result is the outcome of a rule or of a whole analysis window.
type Result string

// The results.
const (
	Pass         Result = "pass"
	Fail         Result = "fail"
	Inconclusive Result = "inconclusive" // not enough data to say: never a pass
)

// Verdict is the outcome of one analysis window, with every number it was
// decided from. It is stored with the deployment and sent with its events.
type Verdict struct {
	Result Result `json:"result"`
	// Reason is one line a person can act on.
	Reason string `json:"reason"`
	// DecidedBy names the rule that decided a fail or an inconclusive
	// verdict ("min_requests" when the new slot had too few requests).
	DecidedBy string `json:"decided_by,omitempty"`
	// DecidedOn, with synthetic traffic, says whose requests a failed rule
	// failed on: "user" or "synthetic".
	DecidedOn     string    `json:"decided_on,omitempty"`
	WindowSeconds float64   `json:"window_seconds"`
	MinRequests   int       `json:"min_requests"`
	NewSlot       slot.Slot `json:"new_slot"`
	LiveSlot      slot.Slot `json:"live_slot"`
	New           Summary   `json:"new"`
	// Live is the live slot over the same window; when it got no traffic
	// (baking), the last window in which it did (LiveFrom "baseline").
	Live     *Summary     `json:"live,omitempty"`
	LiveFrom string       `json:"live_from,omitempty"` // "window" or "baseline"
	Rules    []RuleResult `json:"rules"`
	// Providers are the external providers' answers on the same window
	// (see Combine).
	Providers []ProviderResult `json:"providers,omitempty"`
	// Synthetic is the synthetic traffic's side of the window
	// (analysis.synthetic), judged apart from the users' requests; nil
	// when synthetic traffic is off.
	Synthetic *SyntheticVerdict `json:"synthetic,omitempty"`
}

// SyntheticVerdict is what the synthetic requests of both slots showed in
// one window: their own numbers and the rules applied to them (in the
// order of Verdict.Rules).
type SyntheticVerdict struct {
	New   Summary      `json:"new"`
	Live  Summary      `json:"live"`
	Rules []RuleResult `json:"rules"`
}

// RuleResult is one rule applied to one window. Values are in the
// metric's unit: a ratio for error_rate, seconds for latencies.
type RuleResult struct {
	Rule   string        `json:"rule"` // as written: "error_rate max 1% max_ratio_to_live 2"
	Metric config.Metric `json:"metric"`
	// Filter is the rule's filter as written ("mcp_tool search"); empty
	// when the rule measures every request.
	Filter string `json:"filter,omitempty"`
	Result Result `json:"result"`
	// Requests and LiveRequests are the sample sizes: the requests the
	// rule measured on the new slot, and on the live slot (in the window,
	// or in the baseline when LiveFrom is "baseline").
	Requests       uint64   `json:"requests"`
	LiveRequests   uint64   `json:"live_requests"`
	LiveFrom       string   `json:"live_from,omitempty"`
	New            *float64 `json:"new,omitempty"`
	Live           *float64 `json:"live,omitempty"`
	Max            *float64 `json:"max,omitempty"`
	Min            *float64 `json:"min,omitempty"`
	MaxRatioToLive float64  `json:"max_ratio_to_live,omitempty"`
	// Ratio is new/live as compared with MaxRatioToLive (see Evaluate for
	// the noise floors).
	Ratio *float64 `json:"ratio,omitempty"`
	// MannWhitney is the statistical comparison of a rule with compare:
	// statistical (X: the new slot's latencies, Y: the live slot's).
	MannWhitney *MannWhitneyResult `json:"mann_whitney,omitempty"`
	Reason      string             `json:"reason"`
}
