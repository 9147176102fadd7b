package router

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestSSEScanner(t *testing.T) {
	for _, tc := range []struct {
		stream   string
		boundary bool
		last     int // lastBoundary over the whole stream (0: its start)
	}{
		{"", true, 0},
		{"data: a", false, 0},
		{"data: a\n", false, 0},
		{"data: a\n\n", true, 9},
		{"data: a\r\n\r\n", true, 11},
		{"data: a\r\r", true, 9},
		{"data: a\r\n\r", true, 10},
		{": keepalive\n\ndata: b\n", false, 13},
		{"data: a\n\ndata: b\n\n\n", true, 19},
		{"\n", true, 1},
		{"data: a\r\ndata: b\r\n", false, 0},
	} {
		for _, split := range []int{1, 2, 5, len(tc.stream) + 1} {
			name := fmt.Sprintf("%q in chunks of %d", tc.stream, split)
			fed, scanned := newSSEScanner(), newSSEScanner()
			for i := 0; i < len(tc.stream); i += split {
				fed.feed([]byte(tc.stream[i:min(i+split, len(tc.stream))]))
			}
			if fed.atBoundary() != tc.boundary {
				t.Errorf("%s: feed: boundary %v, want %v", name, fed.atBoundary(), tc.boundary)
			}
			if got := scanned.lastBoundary([]byte(tc.stream)); got != tc.last || scanned.atBoundary() != tc.boundary {
				t.Errorf("%s: lastBoundary %d (boundary %v), want %d (%v)", name, got, scanned.atBoundary(), tc.last, tc.boundary)
			}
		}
	}
}

// Inside an event, lastBoundary finds none until the blank line.
func TestSSEScannerInsideEvent(t *testing.T) {
	sc := newSSEScanner()
	sc.feed([]byte("data: a"))
	if k := sc.lastBoundary([]byte("bc\ndata: d\r\n")); k != -1 {
		t.Fatalf("lastBoundary inside an event = %d, want -1", k)
	}
	if k := sc.lastBoundary([]byte("\r\nid: 7")); k != 2 {
		t.Fatalf("lastBoundary at the blank line = %d, want 2", k)
	}
}

func TestRetryHint(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		h := string(retryHint())
		assertRetryHint(t, "hint", h, "")
		seen[h] = true
	}
	if len(seen) < 10 {
		t.Fatalf("%d distinct retry hints in 50, want them spread", len(seen))
	}
}

func TestIsEventStream(t *testing.T) {
	for _, tc := range []struct {
		ct, ce string
		method string
		code   int
		want   bool
	}{
		{"text/event-stream", "", "GET", 200, true},
		{"Text/Event-Stream; charset=utf-8", "", "POST", 200, true},
		{"text/event-stream", "identity", "GET", 200, true},
		{"text/event-stream", "gzip", "GET", 200, true},
		{"text/event-stream", "identity, gzip", "GET", 200, true},
		{"text/event-stream", "br", "GET", 200, false},
		{"text/event-stream", "gzip, gzip", "GET", 200, false},
		{"text/event-stream", "", "HEAD", 200, false},
		{"text/event-stream", "", "GET", 204, false},
		{"application/json", "", "GET", 200, false},
		{"", "", "GET", 200, false},
	} {
		h := http.Header{}
		if tc.ct != "" {
			h.Set("Content-Type", tc.ct)
		}
		if tc.ce != "" {
			h.Set("Content-Encoding", tc.ce)
		}
		resp := &http.Response{StatusCode: tc.code, Header: h, Body: io.NopCloser(strings.NewReader("")),
			Request: &http.Request{Method: tc.method}}
		if got := isEventStream(resp); got != tc.want {
			t.Errorf("%+v: isEventStream = %v, want %v", tc, got, tc.want)
		}
	}
}
