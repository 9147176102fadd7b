package analysis

import (
	"fmt"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// Window is what an external provider is asked about: one analysis window
// of a deployment.
type Window struct {
	App          string
	DeploymentID int64
	NewSlot      slot.Slot
	NewVersion   string
	LiveSlot     slot.Slot
	LiveVersion  string
	Length       time.Duration
}

// ProviderResult is one external provider's answer on a window.
type ProviderResult struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"` // prometheus or webhook
	Result Result `json:"result"`
	// Query is the Prometheus query as sent (placeholders replaced).
	Query string   `json:"query,omitempty"`
	Value *float64 `json:"value,omitempty"`
	Max   *float64 `json:"max,omitempty"`
	Min   *float64 `json:"min,omitempty"`
	// Reason says why: the provider's own reason, or what went wrong
	// asking it.
	Reason string `json:"reason"`
}

// Combine adds the external providers' answers to the router's verdict
// on the same window. Fail wins over inconclusive, inconclusive over pass,
// as between rules: a provider that fails fails the window, one that is
// inconclusive (including one that could not be reached) makes a passing
// window inconclusive. A verdict already failed by a rule keeps its
// reason; the providers' answers are attached in every case.
func Combine(v Verdict, ps []ProviderResult) Verdict {
	v.Providers = append([]ProviderResult(nil), ps...)
	if v.Result == Fail {
		return v
	}
	for _, p := range ps {
		if p.Result == Fail {
			v.Result, v.DecidedBy = Fail, "provider "+p.Name
			v.Reason = fmt.Sprintf("provider %s: %s", p.Name, p.Reason)
			return v
		}
	}
	if v.Result == Inconclusive {
		return v
	}
	for _, p := range ps {
		if p.Result != Pass {
			// Inconclusive, or a result nobody defined: never a pass.
			v.Result, v.DecidedBy = Inconclusive, "provider "+p.Name
			v.Reason = fmt.Sprintf("provider %s: %s", p.Name, p.Reason)
			return v
		}
	}
	if len(ps) > 0 {
		v.Reason += fmt.Sprintf("; %d providers passed", len(ps))
		if len(ps) == 1 {
			v.Reason = v.Reason[:len(v.Reason)-len("1 providers passed")] + "1 provider passed"
		}
	}
	return v
}
