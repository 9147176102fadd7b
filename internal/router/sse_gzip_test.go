package router

import (
	"bufio"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

// gzipSSEBackend serves an SSE stream compressed with gzip, one flushed
// event per message put on events, as compressing middleware does.
type gzipSSEBackend struct {
	events chan string
	opened chan struct{}
}

func (b *gzipSSEBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Content-Encoding", "gzip")
	zw := gzip.NewWriter(w)
	rc := http.NewResponseController(w)
	if rc.Flush() != nil { // the head now, the gzip header with the first event
		return
	}
	b.opened <- struct{}{}
	for {
		select {
		case data := <-b.events:
			if _, err := io.WriteString(zw, "data: "+data+"\n\n"); err != nil {
				return
			}
			if zw.Flush() != nil || rc.Flush() != nil {
				return
			}
		case <-r.Context().Done():
			return
		}
	}
}

// TestGzipEventStreamEndsWithRetryHint: a gzip-compressed SSE stream is
// followed like a plain one: the router decodes it, passes its events on,
// and when it ends the stream (here CancelAll, as at shutdown) the client
// gets a clean end after a whole event with the retry hint. It used to be
// cut with no hint, as a compressed stream could not be followed.
func TestGzipEventStreamEndsWithRetryHint(t *testing.T) {
	tr := newTestRouter(t, Options{}, false)
	b := &gzipSSEBackend{events: make(chan string), opened: make(chan struct{}, 1)}
	tr.SetBackends(Blue, []string{newServer(t, b)}, true)

	// A client that asks for gzip and decodes nothing itself, to see the
	// bytes the router sends.
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	req, err := http.NewRequest(http.MethodGet, tr.prod.URL+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	recv(t, b.opened, "backend stream")
	if ce := resp.Header.Get("Content-Encoding"); ce != "" {
		t.Fatalf("Content-Encoding %q reached the client, want the stream decoded", ce)
	}
	s := &rawSSEClient{br: bufio.NewReader(resp.Body)}
	for _, data := range []string{"one", "two"} {
		b.events <- data
		if got := s.readN(t, len("data: "+data+"\n\n")); got != "data: "+data+"\n\n" {
			t.Fatalf("event %q through the router, want %q", got, "data: "+data+"\n\n")
		}
	}
	done := make(chan struct{})
	go func() {
		tr.CancelAll(errors.New("shutting down"))
		close(done)
	}()
	tail, err := s.rest(t)
	if err != nil {
		t.Fatalf("stream ended with %v, want a clean end", err)
	}
	if strings.Contains(tail, "data:") {
		t.Errorf("tail %q has an event after the end", tail)
	}
	assertRetryHint(t, "gzip SSE stream", tail, "")
	recv(t, done, "CancelAll to return")
}
