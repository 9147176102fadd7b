package notify

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// message is the JSON body POSTed to every webhook: the event's own fields
// (id, deployment_id, time, phase, reason, data) plus the app and a
// one-line text that Slack (and Slack-compatible receivers: Mattermost,
// Rocket.Chat, Discord's /slack endpoint) show as is.
//
// The fields are spelled out rather than embedding store.Event, so that a
// MarshalJSON added to store.Event one day cannot swallow app and text.
type message struct {
	ID           int64           `json:"id"`
	DeploymentID int64           `json:"deployment_id"`
	Time         time.Time       `json:"time"`
	Phase        string          `json:"phase"`
	Reason       string          `json:"reason"`
	Data         json.RawMessage `json:"data,omitempty"`
	App          string          `json:"app"`
	Text         string          `json:"text"`
}

// encoded is one message ready to send, shared read-only by every URL.
type encoded struct {
	eventID      int64
	deploymentID int64
	body         []byte
}

// encode builds the webhook body for ev.
func encode(app string, ev store.Event) (*encoded, error) {
	m := message{
		ID: ev.ID, DeploymentID: ev.DeploymentID, Time: ev.Time, Phase: ev.Phase,
		Reason: ev.Reason, Data: ev.Data, App: app, Text: eventText(app, ev),
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode event %d of deployment %d: %w", ev.ID, ev.DeploymentID, err)
	}
	return &encoded{eventID: ev.ID, deploymentID: ev.DeploymentID, body: body}, nil
}

// PhaseAudit is the phase of the events that carry an audit entry (an
// admin action) rather than a deployment's step.
const PhaseAudit = "audit"

// eventText renders ev as one line, e.g.
//
//	shop: deployment 12 → shifting (green 30%): step 3 of 10
//
// The part in parentheses comes from the event's data: {"slot": "green",
// "weight": 30} gives "green 30%"; a weight alone, when above zero, "30% of
// traffic"; {"weights": {"blue": 70, "green": 30}} "blue 70%, green 30%".
// It is left out when the data has none of these. The reason follows the
// colon when set. An audit entry reads
//
//	shop: admin action by token deploy: ok
//
// &, < and > are escaped as Slack requires.
func eventText(app string, ev store.Event) string {
	if ev.Phase == PhaseAudit && ev.DeploymentID == 0 {
		// An admin action, not a deployment's step: its reason is "actor
		// action: result".
		return slackEscape(fmt.Sprintf("%s: admin action by %s", app, ev.Reason))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: deployment %d → %s", app, ev.DeploymentID, ev.Phase)
	if traffic := trafficText(ev.Data); traffic != "" {
		fmt.Fprintf(&b, " (%s)", traffic)
	}
	if ev.Reason != "" {
		fmt.Fprintf(&b, ": %s", ev.Reason)
	}
	return slackEscape(b.String())
}

// trafficText reads the traffic split from an event's data, "" if none.
func trafficText(data json.RawMessage) string {
	if len(data) == 0 {
		return ""
	}
	var d struct {
		Slot    string                 `json:"slot"`
		Weight  *json.Number           `json:"weight"`
		Weights map[string]json.Number `json:"weights"`
	}
	// Data is free-form: when it does not have this shape, there is simply
	// no traffic part in the text.
	if err := json.Unmarshal(data, &d); err != nil {
		return ""
	}
	if d.Weight != nil {
		if d.Slot != "" {
			return d.Slot + " " + percent(*d.Weight)
		}
		if f, err := d.Weight.Float64(); err == nil && f > 0 {
			return percent(*d.Weight) + " of traffic"
		}
	}
	if len(d.Weights) == 0 {
		return ""
	}
	slots := make([]string, 0, len(d.Weights))
	for slot := range d.Weights {
		slots = append(slots, slot)
	}
	slices.Sort(slots)
	parts := make([]string, 0, len(slots))
	for _, slot := range slots {
		parts = append(parts, slot+" "+percent(d.Weights[slot]))
	}
	return strings.Join(parts, ", ")
}

// percent formats a JSON number as "30%" (or "12.5%").
func percent(n json.Number) string {
	f, err := n.Float64()
	if err != nil {
		return n.String() + "%"
	}
	return strconv.FormatFloat(f, 'f', -1, 64) + "%"
}

// slackEscape escapes the three characters Slack's message format
// reserves, so a reason like "p99 > 1.5× live" shows as written.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
