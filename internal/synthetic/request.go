package synthetic

import (
	"context"
	"io"
	"net/http"
	"strings"
)

// newRequest builds a synthetic request for the router's in-process
// handler. A Host header in headers sets the request's Host.
func newRequest(ctx context.Context, method, host, path string, headers map[string]string, body string) (*http.Request, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+host+path, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range headers {
		if http.CanonicalHeaderKey(k) == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	return req, nil
}

// answer is the http.ResponseWriter a synthetic request is answered into:
// it keeps the status, the headers and up to keep bytes of the body, and
// drops the rest.
type answer struct {
	header http.Header
	code   int
	keep   int
	body   []byte
}

var (
	_ http.ResponseWriter = (*answer)(nil)
	_ http.Flusher        = (*answer)(nil)
)

func newAnswer(keep int) *answer { return &answer{header: http.Header{}, keep: keep} }

func (a *answer) Header() http.Header { return a.header }

// WriteHeader keeps the first final status; 1xx responses are passed over.
func (a *answer) WriteHeader(code int) {
	if a.code != 0 || code < 200 {
		return
	}
	a.code = code
}

func (a *answer) Write(b []byte) (int, error) {
	a.WriteHeader(http.StatusOK)
	if n := min(len(b), a.keep-len(a.body)); n > 0 {
		a.body = append(a.body, b[:n]...)
	}
	return len(b), nil
}

// Flush does nothing: nobody reads the answer while it streams.
func (a *answer) Flush() {}

// finish sets the status of an answer that wrote nothing.
func (a *answer) finish() {
	if a.code == 0 {
		a.code = http.StatusOK
	}
}
