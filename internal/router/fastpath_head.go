package router

import (
	"bytes"
	"errors"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
)

// maxResponseHead bounds the response head the fast path accepts from an
// instance (status line and headers); a longer head is an upstream error,
// as http.Transport's MaxResponseHeaderBytes makes it.
const maxResponseHead = 64 << 10

// errHeadIncomplete says the buffer does not hold a whole head yet: read
// more and parse again.
var errHeadIncomplete = errors.New("response head incomplete")

// responseHead is an instance's HTTP/1.1 response head as the fast path
// reads it.
type responseHead struct {
	minor  int // HTTP/1.minor
	status int
	header http.Header
}

// parseResponseHead parses the head at the start of buf and returns it
// with the number of bytes it took (through the blank line). It returns
// errHeadIncomplete when buf holds no blank line yet and is shorter than
// maxResponseHead. Header names are canonicalised as net/http does, so
// that the fast path and ReverseProxy hand the client the same names;
// obsolete line folding is refused (RFC 9112 §5.2 lets a proxy reject it).
// The header goes into into, cleared first, when it is not nil (a map the
// client-side fast path reuses: headerMaps), else into a new map.
func parseResponseHead(buf []byte, into http.Header) (responseHead, int, error) {
	var h responseHead
	end := bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 {
		if len(buf) >= maxResponseHead {
			return h, 0, errors.New("response head over 64 KiB")
		}
		return h, 0, errHeadIncomplete
	}
	if end+4 > maxResponseHead {
		return h, 0, errors.New("response head over 64 KiB")
	}
	line, rest, _ := bytes.Cut(buf[:end], []byte("\r\n"))
	if err := h.parseStatusLine(line); err != nil {
		return h, 0, err
	}
	// One string holds every header line, and the names and values are
	// slices of it; one array holds every value slice: a head costs three
	// allocations (and the map), not two per line.
	text := string(rest)
	n := strings.Count(text, "\r\n") + 1
	if into != nil {
		clear(into)
		h.header = into
	} else {
		h.header = make(http.Header, n)
	}
	vals := make([]string, 0, n)
	for len(text) > 0 {
		var l string
		l, text, _ = strings.Cut(text, "\r\n")
		if err := h.addHeaderLine(l, &vals); err != nil {
			return h, 0, err
		}
	}
	return h, end + 4, nil
}

// parseStatusLine reads "HTTP/1.x NNN reason".
func (h *responseHead) parseStatusLine(line []byte) error {
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[8] != ' ' {
		return errors.New("malformed status line " + strconv.Quote(clip(line)))
	}
	switch line[7] {
	case '0':
		h.minor = 0
	case '1':
		h.minor = 1
	default:
		return errors.New("unsupported HTTP version in " + strconv.Quote(clip(line)))
	}
	code := line[9:12]
	if len(line) > 12 && line[12] != ' ' {
		return errors.New("malformed status code in " + strconv.Quote(clip(line)))
	}
	n := 0
	for _, c := range code {
		if c < '0' || c > '9' {
			return errors.New("malformed status code in " + strconv.Quote(clip(line)))
		}
		n = n*10 + int(c-'0')
	}
	if n < 100 {
		return errors.New("status code under 100 in " + strconv.Quote(clip(line)))
	}
	h.status = n
	return nil
}

// addHeaderLine adds one "Name: value" line; the value is trimmed of
// spaces and tabs (addHeaderValue).
func (h *responseHead) addHeaderLine(l string, vals *[]string) error {
	if len(l) > 0 && (l[0] == ' ' || l[0] == '\t') {
		return errors.New("obsolete header line folding in response")
	}
	name, value, ok := strings.Cut(l, ":")
	if !ok || len(name) == 0 || !validHeaderName(name) {
		return errors.New("malformed header line " + strconv.Quote(clip(l)))
	}
	value = strings.Trim(value, " \t")
	for i := 0; i < len(value); i++ {
		if c := value[i]; c == '\r' || c == '\n' || c == 0 {
			return errors.New("invalid byte in header value of " + strconv.Quote(clip(name)))
		}
	}
	addHeaderValue(h.header, textproto.CanonicalMIMEHeaderKey(name), value, vals)
	return nil
}

// addHeaderValue appends value to h[key]. A name's first value takes its
// slice from vals while it has room, capped so that a second value copies
// it (net/textproto does the same): a head's values cost one allocation.
func addHeaderValue(h http.Header, key, value string, vals *[]string) {
	if prior, ok := h[key]; ok {
		h[key] = append(prior, value)
		return
	}
	v := *vals
	if len(v) < cap(v) {
		v = append(v, value)
		*vals = v
		h[key] = v[len(v)-1 : len(v) : len(v)]
		return
	}
	h[key] = []string{value}
}

// clip shortens b for an error message.
func clip[T []byte | string](b T) string {
	if len(b) > 64 {
		return string(b[:64]) + "…"
	}
	return string(b)
}
