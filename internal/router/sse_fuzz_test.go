package router

import (
	"bytes"
	"testing"
)

// FuzzSSEBoundary checks the event boundary scanner against a plain model
// of the stream: with line ends normalised (CRLF, CR → LF), the stream is
// between events when it is empty or its last line is blank. The stream is
// fed in two parts, the first with feed and the second with lastBoundary,
// so that a CRLF split across reads is covered.
func FuzzSSEBoundary(f *testing.F) {
	f.Add([]byte("event: a\ndata: 1\n\ndata: 2\r\n\r\n"), uint16(9))
	f.Fuzz(func(t *testing.T, stream []byte, cut uint16) {
		if len(stream) > 1<<10 {
			stream = stream[:1<<10] // the model below is quadratic
		}
		first, rest := stream[:int(cut)%(len(stream)+1)], stream[int(cut)%(len(stream)+1):]
		sc := newSSEScanner()
		sc.feed(first)
		if got, want := sc.atBoundary(), sseModelBoundary(first); got != want {
			t.Fatalf("after feed(%q): at boundary %v, want %v", first, got, want)
		}
		k := sc.lastBoundary(rest)
		want := -1
		for j := 0; j <= len(rest); j++ {
			if sseModelBoundary(stream[:len(first)+j]) {
				want = j
			}
		}
		if k != want {
			t.Fatalf("after %q, lastBoundary(%q) = %d, want %d", first, rest, k, want)
		}
		if got, want := sc.atBoundary(), sseModelBoundary(stream); got != want {
			t.Fatalf("after %q: at boundary %v, want %v", stream, got, want)
		}
	})
}

// sseModelBoundary reports whether an event stream that has sent s is
// between two events.
func sseModelBoundary(s []byte) bool {
	n := bytes.ReplaceAll(bytes.ReplaceAll(s, []byte("\r\n"), []byte("\n")), []byte("\r"), []byte("\n"))
	return len(n) == 0 || (n[len(n)-1] == '\n' && (len(n) == 1 || n[len(n)-2] == '\n'))
}
