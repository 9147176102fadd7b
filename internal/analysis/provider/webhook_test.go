package provider

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/analysis"
	"github.com/bluegreen-dev/bluegreen/internal/config"
)

var testWindow = analysis.Window{
	App: "shop", DeploymentID: 7, NewSlot: "green", NewVersion: "v2", LiveSlot: "blue", LiveVersion: "v1",
	Length: 30 * time.Second,
}

// webhookSet is a Set with one webhook provider at url.
func webhookSet(t *testing.T, url string, timeout time.Duration) *Set {
	t.Helper()
	s, err := New([]config.Provider{{
		Name: "business", Timeout: config.Duration(timeout),
		Webhook: &config.WebhookProvider{URL: url, Headers: map[string]string{"X-Slot": "{{slot}}"}},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestWebhook(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		result analysis.Result
		reason string
	}{
		{"pass", 200, `{"result":"pass","reason":"conversion steady"}`, analysis.Pass, "conversion steady"},
		{"fail", 200, `{"result":"fail","reason":"conversion down 12%"}`, analysis.Fail, "conversion down 12%"},
		{"inconclusive", 200, `{"result":"inconclusive","reason":"too few orders"}`, analysis.Inconclusive, "too few orders"},
		{"no reason", 200, `{"result":"pass"}`, analysis.Pass, "no reason given"},
		{"garbage", 200, `<html>oops</html>`, analysis.Inconclusive, `answered something other than {"result":…}: "<html>oops</html>"`},
		{"unknown result", 200, `{"result":"ok"}`, analysis.Inconclusive, `answered result "ok": want pass, fail or inconclusive`},
		{"server error", 500, `{"result":"pass"}`, analysis.Inconclusive, "answered 500 Internal Server Error"},
		{"too long", 200, `{"result":"pass","reason":"` + strings.Repeat("x", MaxResponse) + `"}`, analysis.Inconclusive, "answer longer than 1048576 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan webhookRequest, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var req webhookRequest
				if r.Method != http.MethodPost || r.URL.Path != "/verdict/v2" || r.Header.Get("X-Slot") != "green" ||
					json.NewDecoder(r.Body).Decode(&req) != nil {
					http.Error(w, "bad request", http.StatusBadRequest)
					return
				}
				got <- req
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			t.Cleanup(srv.Close)
			rs := webhookSet(t, srv.URL+"/verdict/{{version}}", 5*time.Second).Judge(context.Background(), testWindow)
			if len(rs) != 1 {
				t.Fatalf("results = %+v", rs)
			}
			r := rs[0]
			if r.Name != "business" || r.Kind != "webhook" || r.Result != tc.result || !strings.Contains(r.Reason, tc.reason) {
				t.Errorf("result = %+v, want %s with %q", r, tc.result, tc.reason)
			}
			req := <-got
			want := webhookRequest{App: "shop", DeploymentID: 7, Slot: "green", Version: "v2", LiveSlot: "blue", LiveVersion: "v1", WindowSeconds: 30}
			if req != want {
				t.Errorf("webhook got %+v, want %+v", req, want)
			}
		})
	}
}

// A webhook that does not answer in time is inconclusive, not a pass.
func TestWebhookTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	r := webhookSet(t, srv.URL, 50*time.Millisecond).Judge(context.Background(), testWindow)[0]
	if r.Result != analysis.Inconclusive || !strings.HasPrefix(r.Reason, "no answer within 50ms") {
		t.Errorf("result = %+v, want inconclusive: no answer within 50ms", r)
	}
}

// An unreachable webhook is inconclusive, and the reason does not repeat
// the URL's path and query (they may hold a secret).
func TestWebhookUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	r := webhookSet(t, url+"/hook?token=secret", 5*time.Second).Judge(context.Background(), testWindow)[0]
	if r.Result != analysis.Inconclusive || !strings.Contains(r.Reason, "unreachable") || strings.Contains(r.Reason, "secret") {
		t.Errorf("result = %+v, want inconclusive, unreachable, without the token", r)
	}
}

func TestExpand(t *testing.T) {
	got := expand(`rate(x{slot="{{slot}}",version="{{version}}",live="{{live_slot}}/{{live_version}}",app="{{app}}"}[{{window}}])`, testWindow)
	want := `rate(x{slot="green",version="v2",live="blue/v1",app="shop"}[30s])`
	if got != want {
		t.Errorf("expand = %s, want %s", got, want)
	}
}
