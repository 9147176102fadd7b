package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/bluegreen-dev/bluegreen/internal/analysis"
	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// webhook POSTs the window and reads a verdict.
type webhook struct {
	client *http.Client
	cfg    config.WebhookProvider
}

// webhookRequest is the JSON body sent to a webhook provider.
type webhookRequest struct {
	App           string    `json:"app"`
	DeploymentID  int64     `json:"deployment_id"`
	Slot          slot.Slot `json:"slot"`
	Version       string    `json:"version"`
	LiveSlot      slot.Slot `json:"live_slot"`
	LiveVersion   string    `json:"live_version"`
	WindowSeconds float64   `json:"window_seconds"`
}

// webhookAnswer is what a webhook provider answers.
type webhookAnswer struct {
	Result analysis.Result `json:"result"`
	Reason string          `json:"reason"`
}

func (p *webhook) judge(ctx context.Context, w analysis.Window) analysis.ProviderResult {
	body, err := json.Marshal(webhookRequest{
		App: w.App, DeploymentID: w.DeploymentID, Slot: w.NewSlot, Version: w.NewVersion,
		LiveSlot: w.LiveSlot, LiveVersion: w.LiveVersion, WindowSeconds: w.Length.Seconds(),
	})
	if err != nil {
		return inconclusive("encode request: %v", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, expand(p.cfg.URL, w), bytes.NewReader(body))
	if err != nil {
		return inconclusive("build request: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	for k, v := range p.cfg.Headers {
		req.Header.Set(k, expand(v, w))
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return inconclusive("webhook %s unreachable: %v", host(req), unwrapURL(err))
	}
	b, err := readBody(resp)
	if err != nil {
		return inconclusive("webhook %s: %v", host(req), err)
	}
	if resp.StatusCode/100 != 2 {
		return inconclusive("webhook %s answered %s: %s", host(req), resp.Status, snippet(b))
	}
	var a webhookAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		return inconclusive("webhook %s answered something other than {\"result\":…}: %s", host(req), snippet(b))
	}
	reason := strings.TrimSpace(a.Reason)
	if len(reason) > 500 {
		reason = reason[:500] + "…"
	}
	if reason == "" {
		reason = "no reason given"
	}
	switch a.Result {
	case analysis.Pass, analysis.Fail, analysis.Inconclusive:
		return analysis.ProviderResult{Result: a.Result, Reason: reason}
	}
	return inconclusive("webhook %s answered result %q: want pass, fail or inconclusive", host(req), a.Result)
}
