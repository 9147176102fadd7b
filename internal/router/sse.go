package router

import (
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// isEventStream reports whether resp is a server-sent events stream with a
// body the router can follow: uncompressed, or gzip (which the router
// decompresses, see gunzipStream). Any other encoding (br, zstd) is not
// followed, and ends at a drain deadline like any other response.
func isEventStream(resp *http.Response) bool {
	if resp.Body == nil || resp.Body == http.NoBody || resp.StatusCode < 200 ||
		resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified {
		return false
	}
	if resp.Request != nil && resp.Request.Method == http.MethodHead {
		return false
	}
	ct := resp.Header["Content-Type"]
	if len(ct) == 0 {
		return false
	}
	mt, _, _ := strings.Cut(ct[0], ";")
	if !strings.EqualFold(strings.TrimSpace(mt), "text/event-stream") {
		return false
	}
	gz := 0
	for _, ce := range resp.Header["Content-Encoding"] {
		for _, c := range strings.Split(ce, ",") {
			switch c = strings.TrimSpace(c); {
			case c == "" || strings.EqualFold(c, "identity"):
			case strings.EqualFold(c, "gzip") || strings.EqualFold(c, "x-gzip"):
				gz++
			default:
				return false
			}
		}
	}
	return gz <= 1
}

// gunzipStream makes a gzip-encoded event stream plain, so that the router
// can see where its events end and end it with a retry hint when the slot
// drains: a gzip stream cannot be cut between events, nor a hint added to
// it, without decoding it. The client gets the events uncompressed (any
// client accepts identity); SSE events are small and the stream is
// long-lived, so what is lost is bandwidth, not latency. The gzip header
// is read on the first Read, not here, so that the response head reaches
// the client before the first event.
func gunzipStream(resp *http.Response) {
	if len(resp.Header["Content-Encoding"]) == 0 {
		return
	}
	gzipped := false
	for _, ce := range resp.Header["Content-Encoding"] {
		gzipped = gzipped || strings.Contains(strings.ToLower(ce), "gzip")
	}
	resp.Header.Del("Content-Encoding")
	if !gzipped {
		return
	}
	resp.Header.Del("Content-Length")
	resp.ContentLength = -1
	resp.Body = &gunzipBody{src: resp.Body}
}

// gunzipBody decodes a gzip body, opening the decoder on the first Read.
type gunzipBody struct {
	src io.ReadCloser
	zr  *gzip.Reader
	err error
}

func (g *gunzipBody) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	if g.zr == nil {
		zr, err := gzip.NewReader(g.src)
		if err != nil {
			g.err = err
			return 0, err
		}
		g.zr = zr
	}
	return g.zr.Read(p)
}

func (g *gunzipBody) Close() error { return g.src.Close() }

// sseBody is the body of a server-sent events response. It passes the
// stream through unchanged while it follows where events end, so that when
// the router ends the stream (endStream) it stops right after a complete
// event, adds a retry hint, and ends the body: the client sees a normal end
// of stream, never half an event.
//
// At the end request: if the stream is between events, the backend request
// is cancelled at once (the read waiting for the next event returns);
// otherwise the stream runs on until the current event completes, for at
// most the router's stream grace, and is cut if it does not.
type sseBody struct {
	io.ReadCloser
	s      *slotState
	grace  time.Duration
	cancel context.CancelCauseFunc

	mu     sync.Mutex
	scan   sseScanner
	ending bool
	timer  *time.Timer // grace timer while waiting for the end of an event
	hint   []byte      // the retry hint still to send
	eof    bool        // the body is over for the client
	closed bool
}

var _ streamEnder = (*sseBody)(nil)

// newSSEBody wraps the body of an SSE response and registers it as the
// request's stream.
func newSSEBody(r *Router, s *slotState, ri *requestInfo, body io.ReadCloser) *sseBody {
	b := &sseBody{ReadCloser: body, s: s, grace: r.streamGrace, cancel: ri.cancel, scan: newSSEScanner()}
	s.streams.open[streamSSE].Add(1)
	ri.ep.setEnder(ri.reg, b)
	return b
}

func (b *sseBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.hint != nil || b.eof {
		defer b.mu.Unlock()
		return b.tailLocked(p)
	}
	b.mu.Unlock()

	n, err := b.ReadCloser.Read(p)

	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.ending {
		b.scan.feed(p[:n])
		return n, err
	}
	if k := b.scan.lastBoundary(p[:n]); k >= 0 {
		// Whatever follows the last complete event is dropped: the client
		// would discard an incomplete event at the end of the stream.
		b.endedLocked(outcomeDrained)
		b.hint = retryHint()
		m, terr := b.tailLocked(p[k:])
		return k + m, terr
	}
	if err != nil {
		// The grace period ran out inside an event (the backend request
		// was cancelled), or the backend ended mid-event.
		b.endedLocked(outcomeCut)
		b.eof = true
		return n, io.EOF
	}
	return n, nil
}

// tailLocked sends what is left of the retry hint, then io.EOF.
func (b *sseBody) tailLocked(p []byte) (int, error) {
	n := copy(p, b.hint)
	b.hint = b.hint[n:]
	if len(b.hint) > 0 {
		return n, nil
	}
	b.hint = nil
	b.eof = true
	return n, io.EOF
}

// endedLocked counts the outcome and stops the grace timer.
func (b *sseBody) endedLocked(o streamOutcome) {
	b.s.streams.ended[streamSSE][o].Add(1)
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
}

// endStream ends the stream after the event being sent, if any.
func (b *sseBody) endStream(cause error) {
	b.mu.Lock()
	if b.ending || b.eof || b.closed {
		b.mu.Unlock()
		return
	}
	b.ending = true
	between := b.scan.atBoundary()
	if !between {
		b.timer = time.AfterFunc(b.grace, func() { b.cancel(cause) })
	}
	b.mu.Unlock()
	if between {
		// Unblock the read waiting for the next event; it ends the body.
		b.cancel(cause)
	}
}

func (b *sseBody) Close() error {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		b.s.streams.open[streamSSE].Add(-1)
		if b.timer != nil {
			b.timer.Stop()
			b.timer = nil
		}
	}
	b.mu.Unlock()
	return b.ReadCloser.Close()
}

// sseScanner follows an event stream byte by byte to know whether it is
// between two events: at the start, or right after the blank line that
// ends an event. Lines end with CRLF, LF or CR.
type sseScanner struct {
	lineEmpty bool // no character on the current line yet
	prevCR    bool // the last byte was CR (an LF now belongs to it)
	boundary  bool // between events
}

func newSSEScanner() sseScanner { return sseScanner{lineEmpty: true, boundary: true} }

func (sc *sseScanner) atBoundary() bool { return sc.boundary }

func (sc *sseScanner) step(c byte) {
	if c == '\n' && sc.prevCR {
		sc.prevCR = false
		return
	}
	sc.prevCR = c == '\r'
	if c == '\r' || c == '\n' {
		if sc.lineEmpty {
			sc.boundary = true // a blank line ends the event
		}
		sc.lineEmpty = true
		return
	}
	sc.lineEmpty = false
	sc.boundary = false
}

// feed follows p. Only the line ends after p's last other byte need a
// look: any other byte leaves the scanner inside an event, on a line.
func (sc *sseScanner) feed(p []byte) {
	i := len(p)
	for i > 0 && (p[i-1] == '\n' || p[i-1] == '\r') {
		i--
	}
	if i > 0 {
		sc.lineEmpty, sc.prevCR, sc.boundary = false, false, false
	}
	for _, c := range p[i:] {
		sc.step(c)
	}
}

// lastBoundary follows p and returns the largest k such that the stream is
// between events after p[:k], or -1 when it is not at any point of p
// (including before p).
func (sc *sseScanner) lastBoundary(p []byte) int {
	k := -1
	if sc.boundary {
		k = 0
	}
	for i, c := range p {
		sc.step(c)
		if sc.boundary {
			k = i + 1
		}
	}
	return k
}
