package router

import (
	"bytes"
	"cmp"
	"encoding/json"
	"io"
	"mime"
	"net/http"
)

// mcpInspectLimit bounds how much of one response body is inspected for
// an MCP error; the rest passes through unread by the inspector.
const mcpInspectLimit = 64 << 10

// inspectMCP wraps the body of a response that may carry an MCP (JSON-RPC
// 2.0) answer — a POST answered with JSON or server-sent events — so that
// an error inside an HTTP 2xx (a JSON-RPC "error", or a tool result with
// "isError": true) counts as an error on the request's meters m, and so
// that report (when not nil) gets the outcome of the call once the body
// ends or is closed. The body is streamed as before: the inspector copies
// at most mcpInspectLimit bytes aside and never delays a read. It reports
// whether it wrapped the body.
func inspectMCP(resp *http.Response, m meterSet, report func(mcpOutcome)) bool {
	if (m.empty() && report == nil) || resp.Request == nil || resp.Request.Method != http.MethodPost || resp.StatusCode >= 300 || resp.Body == nil {
		return false
	}
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil {
		return false
	}
	var sse bool
	switch mt {
	case "application/json":
	case "text/event-stream":
		sse = true
	default:
		return false
	}
	resp.Body = &mcpInspector{ReadCloser: resp.Body, sse: sse, meter: m, report: report, length: resp.ContentLength}
	return true
}

// mcpInspector looks at a response body as it streams by.
type mcpInspector struct {
	io.ReadCloser
	sse     bool
	length  int64 // JSON: the Content-Length, -1 when unknown
	meter   meterSet
	report  func(mcpOutcome) // nil: no outcome wanted
	buf     []byte           // JSON: the body so far; SSE: the current line
	data    []byte           // SSE: the data of the current event
	seen    int              // bytes inspected
	done    bool             // decided (error counted, or gave up)
	counted bool
	// outcome is the first error found (ok while none); reported once.
	outcome  mcpOutcome
	reported bool
}

func (i *mcpInspector) Read(p []byte) (int, error) {
	n, err := i.ReadCloser.Read(p)
	if !i.done && n > 0 {
		i.inspect(p[:n])
		if !i.sse && int64(i.seen) == i.length {
			// The whole answer is here: judge it before the client sees
			// its last bytes, so the outcome is counted by then.
			i.finish()
			i.reportOnce()
		}
	}
	if err == io.EOF {
		if !i.done {
			i.finish()
		}
		i.reportOnce()
	}
	return n, err
}

// Close reports the outcome found so far when the body was not read to
// its end (the client went away).
func (i *mcpInspector) Close() error {
	i.reportOnce()
	return i.ReadCloser.Close()
}

func (i *mcpInspector) reportOnce() {
	if i.report == nil || i.reported {
		return
	}
	i.reported = true
	i.report(cmp.Or(i.outcome, mcpOK))
}

// inspect takes the next bytes of the body.
func (i *mcpInspector) inspect(b []byte) {
	if i.done {
		return
	}
	if i.seen+len(b) > mcpInspectLimit {
		i.done = true // too large to judge: not counted
		return
	}
	i.seen += len(b)
	if !i.sse {
		i.buf = append(i.buf, b...)
		return
	}
	for len(b) > 0 && !i.done {
		nl := bytes.IndexByte(b, '\n')
		if nl < 0 {
			i.buf = append(i.buf, b...)
			return
		}
		line := append(i.buf, b[:nl]...)
		b = b[nl+1:]
		i.line(bytes.TrimSuffix(line, []byte("\r")))
		i.buf = i.buf[:0]
	}
}

// line handles one line of an event stream: data lines collect, a blank
// line ends the event.
func (i *mcpInspector) line(l []byte) {
	if len(l) == 0 {
		i.event()
		return
	}
	if rest, ok := bytes.CutPrefix(l, []byte("data:")); ok {
		if len(i.data) > 0 {
			i.data = append(i.data, '\n')
		}
		i.data = append(i.data, bytes.TrimPrefix(rest, []byte(" "))...)
	}
}

// event judges one event's data. The answer to the POST (a JSON-RPC
// response, not a notification or a request of the server's) decides: it
// is counted before the client gets it.
func (i *mcpInspector) event() {
	if len(i.data) > 0 {
		o, answer := mcpAnswerOf(i.data)
		if o != "" {
			i.count(o)
		}
		if answer {
			i.done = true
			i.reportOnce()
		}
	}
	i.data = i.data[:0]
}

// finish judges what is left at the end of the body.
func (i *mcpInspector) finish() {
	if i.sse {
		if len(i.buf) > 0 {
			i.line(i.buf)
		}
		i.event()
	} else if o := mcpErrorOf(i.buf); o != "" {
		i.count(o)
	}
	i.done, i.buf, i.data = true, nil, nil
}

// count records one error of kind o for the request (once, however many
// events).
func (i *mcpInspector) count(o mcpOutcome) {
	if !i.counted {
		i.counted = true
		i.outcome = o
		i.meter.mcpError()
	}
	i.done = true
}

// jsonrpcMessage is the part of a JSON-RPC 2.0 message that tells an
// error.
type jsonrpcMessage struct {
	JSONRPC string          `json:"jsonrpc"`
	Error   json.RawMessage `json:"error"`
	Result  *struct {
		IsError bool `json:"isError"`
	} `json:"result"`
}

// failure returns the error the message carries: mcpJSONRPCError,
// mcpToolError, or "" for none.
func (m jsonrpcMessage) failure() mcpOutcome {
	switch {
	case m.JSONRPC != "2.0":
		return ""
	case len(m.Error) > 0 && !bytes.Equal(m.Error, []byte("null")):
		return mcpJSONRPCError
	case m.Result != nil && m.Result.IsError:
		return mcpToolError
	}
	return ""
}

// answer reports whether the message is a JSON-RPC response (a result or
// an error).
func (m jsonrpcMessage) answer() bool {
	return m.JSONRPC == "2.0" && (m.Result != nil || (len(m.Error) > 0 && !bytes.Equal(m.Error, []byte("null"))))
}

// mcpErrorOf returns the first error a JSON-RPC 2.0 message (or batch) b
// carries: mcpJSONRPCError, mcpToolError, or "" for none.
func mcpErrorOf(b []byte) mcpOutcome {
	o, _ := mcpAnswerOf(b)
	return o
}

// mcpAnswerOf returns the first error a JSON-RPC 2.0 message (or batch) b
// carries ("" for none), and whether b holds a response.
func mcpAnswerOf(b []byte) (o mcpOutcome, answer bool) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "", false
	}
	if b[0] == '[' {
		var batch []jsonrpcMessage
		if json.Unmarshal(b, &batch) != nil {
			return "", false
		}
		for _, m := range batch {
			answer = answer || m.answer()
			if o == "" {
				o = m.failure()
			}
		}
		return o, answer
	}
	var m jsonrpcMessage
	if json.Unmarshal(b, &m) != nil {
		return "", false
	}
	return m.failure(), m.answer()
}
