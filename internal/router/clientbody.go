package router

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"syscall"
)

// clientBody is the body of a request as the router reads it from the
// client, on its way to an instance (or into the MCP read ahead). It
// records the first error reading it other than io.EOF, so that a failed
// round trip can be told apart: a body the client broke — malformed
// chunking, cut short, over a limit, too slow — is the client's fault,
// never the instance's (no passive failure, no retry, not in the slot's
// meters or request metrics; see clientError).
//
// Reads happen on the transport's write goroutine; the error is read once
// the round trip returned, hence the atomic.
type clientBody struct {
	rc  io.ReadCloser
	err atomic.Pointer[error]
}

var _ io.ReadCloser = (*clientBody)(nil)

func (cb *clientBody) Read(p []byte) (int, error) {
	n, err := cb.rc.Read(p)
	// A read after Close is the transport giving up on the body (the
	// instance failed first), not something the client did.
	if err != nil && err != io.EOF && !errors.Is(err, http.ErrBodyReadAfterClose) {
		e := err // allocated only here, not on every Read
		cb.err.CompareAndSwap(nil, &e)
	}
	return n, err
}

func (cb *clientBody) Close() error { return cb.rc.Close() }

// failed returns the first error reading the client's body, or nil.
func (cb *clientBody) failed() error {
	if p := cb.err.Load(); p != nil {
		return *p
	}
	return nil
}

// limitBody makes reading out's body past n bytes fail with
// *http.MaxBytesError, which clientError answers 413; a request without a
// body is left as it is. The reader gets no ResponseWriter: the
// transport reads the body on its own goroutine, where MaxBytesReader's
// hook into the response would race with the handler; clientError closes
// the connection itself.
func limitBody(out *http.Request, n int64) {
	if out.Body == nil || out.Body == http.NoBody {
		return
	}
	out.Body = http.MaxBytesReader(nil, out.Body, n)
}

// wrapBody makes out read its body through ri.body; a request without a
// body is left as it is.
func wrapBody(out *http.Request, ri *requestInfo) {
	if out.Body == nil || out.Body == http.NoBody {
		return
	}
	ri.body.rc = out.Body
	out.Body = &ri.body
}

// bodyError returns the error reading the client's body of the request of
// ri (nil for none, or for a request without info).
func bodyError(ri *requestInfo) error {
	if ri == nil {
		return nil
	}
	return ri.body.failed()
}

// clientReason says why the router could not read a client's request, a
// label value of bluegreen_client_errors_total.
type clientReason string

// The reasons, with the status each is answered with (clientReason.status).
const (
	// reasonBadBody: the body is malformed (invalid chunked encoding), 400.
	reasonBadBody clientReason = "bad_body"
	// reasonBodyTooLarge: the body is over a limit (http.MaxBytesError), 413.
	reasonBodyTooLarge clientReason = "body_too_large"
	// reasonTimeout: the client did not send the body within the
	// listener's read timeout, 408.
	reasonTimeout clientReason = "timeout"
	// reasonClientClosed: the client closed or reset the connection before
	// the end of the body, 499.
	reasonClientClosed clientReason = "client_closed"
)

// clientReasons lists every reason, for the metric's series.
func clientReasons() []clientReason {
	return []clientReason{reasonBadBody, reasonBodyTooLarge, reasonTimeout, reasonClientClosed}
}

// classifyBodyError says what kind of client fault err, an error reading a
// request body, is.
func classifyBodyError(err error) clientReason {
	var (
		tooLarge *http.MaxBytesError
		netErr   net.Error
	)
	switch {
	case errors.As(err, &tooLarge):
		return reasonBodyTooLarge
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return reasonTimeout
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		return reasonClientClosed
	default:
		return reasonBadBody
	}
}

// status is the code the router answers a client fault of reason with.
func (c clientReason) status() int {
	switch c {
	case reasonBadBody:
		return http.StatusBadRequest
	case reasonBodyTooLarge:
		return http.StatusRequestEntityTooLarge
	case reasonTimeout:
		return http.StatusRequestTimeout
	case reasonClientClosed:
		return statusClientClosed
	default:
		return http.StatusBadRequest
	}
}

// message is the one-line body of the answer.
func (c clientReason) message() string {
	switch c {
	case reasonBadBody:
		return "bluegreen: malformed request body"
	case reasonBodyTooLarge:
		return "bluegreen: request body too large"
	case reasonTimeout:
		return "bluegreen: timed out reading the request body"
	case reasonClientClosed:
		return "bluegreen: client closed the request before the end of its body"
	default:
		return "bluegreen: cannot read the request body"
	}
}

// clientError answers a request whose body the client broke (err, from
// reading it) with 400, 408, 413 or 499 and X-Bluegreen-Error:
// client-error, and counts it in bluegreen_client_errors_total only (not
// for a synthetic request): not on the slot's meters, not in
// bluegreen_requests_total or the duration histogram, not as a failure of
// any instance. The connection is closed after the answer: the rest of the
// body cannot be read.
func (r *Router) clientError(w http.ResponseWriter, req *http.Request, s *slotState, err error) {
	reason := classifyBodyError(err)
	ri := infoOf(req.Context())
	if ri != nil {
		ri.clientFault = true
	}
	if !synthetic(req.Context()) {
		s.metrics.clientError(reason).Inc()
	}
	if r.log.Enabled(req.Context(), slog.LevelDebug) {
		r.log.Debug("client error reading the request body", keySlot, s.slot,
			"reason", string(reason), keyError, err, "remote", req.RemoteAddr)
	}
	h := w.Header()
	h[HeaderSlot] = s.slotHeader
	h.Set(HeaderError, "client-error")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Connection", "close")
	w.WriteHeader(reason.status())
	if _, werr := io.WriteString(w, reason.message()+"\n"); werr != nil {
		r.log.Debug("write error response", keySlot, s.slot, keyError, werr)
	}
}
