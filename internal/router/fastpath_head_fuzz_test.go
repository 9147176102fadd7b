package router

import (
	"bufio"
	"bytes"
	"net/http"
	"testing"
)

// FuzzParseResponseHead checks that the fast path's head parser never
// panics, never reads past the head, and agrees with net/http on the
// status code of every head both accept.
func FuzzParseResponseHead(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	f.Add([]byte("HTTP/1.1 204 No Content\r\nX-A: 1\r\nx-a: 2\r\n\r\n"))
	f.Add([]byte("HTTP/1.0 304\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\n folded\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		h, n, err := parseResponseHead(in, nil)
		if err != nil {
			return
		}
		if n > len(in) || n < 4 {
			t.Fatalf("head length %d of %d bytes", n, len(in))
		}
		resp, rerr := http.ReadResponse(bufio.NewReader(bytes.NewReader(in[:n])), nil)
		if rerr == nil && resp.StatusCode != h.status {
			t.Fatalf("status %d, net/http says %d", h.status, resp.StatusCode)
		}
	})
}
