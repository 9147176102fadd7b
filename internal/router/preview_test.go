package router

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestPreviewSecret(t *testing.T) {
	const (
		header = "X-Canary-Version"
		secret = "s3cr3t-preview-value"
	)
	tr := newTestRouter(t, Options{PreviewHeader: header, PreviewSecret: secret}, false)
	tr.SetBackends(Blue, []string{newServer(t, echoHandler(Blue))}, true)
	tr.SetBackends(Green, []string{newServer(t, echoHandler(Green))}, true)
	client := tr.prod.Client()

	var seen []echoed
	tests := []struct {
		name   string
		values []string // nil: no header
		want   string
	}{
		{"no header", nil, "blue"},
		{"wrong secret", []string{"guess"}, "blue"},
		{"secret as a prefix", []string{secret + "x"}, "blue"},
		{"empty value", []string{""}, "blue"},
		{"secret twice", []string{secret, secret}, "blue"},
		{"right secret", []string{secret}, "green"},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.values != nil {
			h[http.CanonicalHeaderKey(header)] = tt.values
		}
		e := getEcho(t, client, tr.prod.URL+"/", h)
		if e.Slot != tt.want {
			t.Errorf("%s: served by %s, want %s", tt.name, e.Slot, tt.want)
		}
		if _, ok := e.Header[http.CanonicalHeaderKey(header)]; ok {
			t.Errorf("%s: backend saw the preview header", tt.name)
		}
		seen = append(seen, e)
	}

	// A wrong secret is never the idle slot, whatever the request.
	for range 20 {
		if e := getEcho(t, client, tr.prod.URL+"/", http.Header{http.CanonicalHeaderKey(header): {"nope"}}); e.Slot != "blue" {
			t.Fatalf("wrong secret reached the idle slot %s", e.Slot)
		}
	}

	// The preview listener always serves the idle slot, and strips the
	// header too.
	for _, live := range []Slot{Blue, Green, Blue} {
		if err := tr.SetTable(LiveTable(live)); err != nil {
			t.Fatal(err)
		}
		e := getEcho(t, tr.preview.Client(), tr.preview.URL+"/", http.Header{http.CanonicalHeaderKey(header): {secret}})
		if e.Slot != string(live.Other()) {
			t.Fatalf("preview with live %s served by %s, want %s", live, e.Slot, live.Other())
		}
		if _, ok := e.Header[http.CanonicalHeaderKey(header)]; ok {
			t.Fatal("preview listener forwarded the preview header")
		}
		seen = append(seen, e)
	}

	allSeen, err := json.Marshal(seen)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(allSeen), secret) {
		t.Fatalf("the secret reached a backend: %s", allSeen)
	}
	logs := tr.logs.String()
	if strings.Contains(logs, secret) {
		t.Fatalf("the secret is in the logs:\n%s", logs)
	}
	if !strings.Contains(logs, "wrong secret") {
		t.Fatalf("no debug log for the wrong secret:\n%s", logs)
	}
	if strings.Contains(logs, "guess") {
		t.Fatalf("the wrong value is in the logs:\n%s", logs)
	}
}

func TestPreviewOptionsValidation(t *testing.T) {
	const secret = "Zq9-hidden-value"
	for _, o := range []Options{
		{PreviewHeader: "X-Preview"},
		{PreviewSecret: secret},
		{PreviewHeader: "X Preview", PreviewSecret: secret},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%q, secret set %v) succeeded, want error", o.PreviewHeader, o.PreviewSecret != "")
		} else if strings.Contains(err.Error(), secret) {
			t.Errorf("error reveals the secret: %v", err)
		}
	}
}
