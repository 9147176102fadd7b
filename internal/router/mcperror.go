package router

import (
	"bytes"
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
// "isError": true) counts as an error on the slot's meter. The body is
// streamed as before: the inspector copies at most mcpInspectLimit bytes
// aside and never delays a read.
func inspectMCP(resp *http.Response, m *meter) {
	if resp.Request == nil || resp.Request.Method != http.MethodPost || resp.StatusCode >= 300 || resp.Body == nil {
		return
	}
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil {
		return
	}
	var sse bool
	switch mt {
	case "application/json":
	case "text/event-stream":
		sse = true
	default:
		return
	}
	resp.Body = &mcpInspector{ReadCloser: resp.Body, sse: sse, meter: m}
}

// mcpInspector looks at a response body as it streams by.
type mcpInspector struct {
	io.ReadCloser
	sse     bool
	meter   *meter
	buf     []byte // JSON: the body so far; SSE: the current line
	data    []byte // SSE: the data of the current event
	seen    int    // bytes inspected
	done    bool   // decided (error counted, or gave up)
	counted bool
}

func (i *mcpInspector) Read(p []byte) (int, error) {
	n, err := i.ReadCloser.Read(p)
	if !i.done && n > 0 {
		i.inspect(p[:n])
	}
	if err == io.EOF && !i.done {
		i.finish()
	}
	return n, err
}

// inspect takes the next bytes of the body.
func (i *mcpInspector) inspect(b []byte) {
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

// event judges one event's data.
func (i *mcpInspector) event() {
	if len(i.data) > 0 && isMCPError(i.data) {
		i.count()
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
	} else if isMCPError(i.buf) {
		i.count()
	}
	i.done, i.buf, i.data = true, nil, nil
}

// count records one error for the request (once, however many events).
func (i *mcpInspector) count() {
	if !i.counted {
		i.counted = true
		i.meter.errors.Add(1)
		i.meter.mcpErrors.Add(1)
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

func (m jsonrpcMessage) failed() bool {
	if m.JSONRPC != "2.0" {
		return false
	}
	hasErr := len(m.Error) > 0 && !bytes.Equal(m.Error, []byte("null"))
	return hasErr || (m.Result != nil && m.Result.IsError)
}

// isMCPError reports whether b is a JSON-RPC 2.0 message (or batch) with
// an error or a tool result with isError: true.
func isMCPError(b []byte) bool {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return false
	}
	if b[0] == '[' {
		var batch []jsonrpcMessage
		if json.Unmarshal(b, &batch) != nil {
			return false
		}
		for _, m := range batch {
			if m.failed() {
				return true
			}
		}
		return false
	}
	var m jsonrpcMessage
	return json.Unmarshal(b, &m) == nil && m.failed()
}
