package deploy

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// details is the controller's own part of a deployment, stored as JSON in
// store.Deployment.Data. Like every other stored field it is a fact the
// reconcile loop reads, never a memory of the process that wrote it.
type details struct {
	// Request is a command recorded by the API that the reconcile loop has
	// yet to carry out (it owns the route and the slots, so it does the
	// work); nil when none.
	Request *request `json:"request,omitempty"`
	// Remaining is the time left in the step when the deployment was paused
	// (a Go duration), restored as the deadline on resume.
	Remaining string `json:"remaining,omitempty"`
	// Verified is the outcome of the checks of verifying, stored by their
	// run beside the loop when they ended (checks.go); nil until then.
	Verified *checked `json:"verified,omitempty"`
	// Report is what the verifier said about the release.
	Report json.RawMessage `json:"report,omitempty"`
	// Failure is the data given with Fail (analysis verdict, hook output).
	Failure json.RawMessage `json:"failure,omitempty"`
	// Analysis is the newest analysis window's verdict.
	Analysis *analysisRecord `json:"analysis,omitempty"`
	// LiveBefore is the live slot's traffic before the switch, the
	// baseline of the first baking window when no shifting window
	// measured the live slot (baseline.go).
	LiveBefore *liveBefore `json:"live_before,omitempty"`
	// Promoted is set when a person promoted: analysis no longer holds
	// the deployment back.
	Promoted bool `json:"promoted,omitempty"`
	// PostChecked latches once the after_promotion checks ran; PostReport
	// is what they said, and PostFailed whether they failed (the loop then
	// rolls back).
	PostChecked bool            `json:"post_checked,omitempty"`
	PostFailed  bool            `json:"post_failed,omitempty"`
	PostReport  json.RawMessage `json:"post_report,omitempty"`
}

// checked is the outcome of a check suite.
type checked struct {
	Passed bool `json:"passed"`
	// Error says why the checks could not run ("" when they ran).
	Error string `json:"error,omitempty"`
}

// requestKind names a recorded command.
type requestKind string

const (
	requestAbort requestKind = "abort" // a person aborted: end in aborted
	requestFail  requestKind = "fail"  // Fail before traffic moved: end in failed
)

// request is a recorded command with why it was given.
type request struct {
	Kind   requestKind     `json:"kind"`
	Reason string          `json:"reason"`
	Data   json.RawMessage `json:"data,omitempty"`
}

// readDetails decodes d.Data; empty Data is the zero details.
func readDetails(d store.Deployment) (details, error) {
	var x details
	if len(d.Data) == 0 {
		return x, nil
	}
	if err := json.Unmarshal(d.Data, &x); err != nil {
		return details{}, fmt.Errorf("read data of deployment %d: %w", d.ID, err)
	}
	return x, nil
}

// write stores x in d.Data.
func (x details) write(d *store.Deployment) error {
	b, err := json.Marshal(x)
	if err != nil {
		return fmt.Errorf("write data of deployment %d: %w", d.ID, err)
	}
	if string(b) == "{}" {
		b = nil
	}
	d.Data = b
	return nil
}

// remaining is the paused step's time left (zero if not recorded).
func (x details) remaining() time.Duration {
	r, err := time.ParseDuration(x.Remaining)
	if err != nil || r < 0 {
		return 0
	}
	return r
}
