package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
)

// acmeMaxOrderBody bounds the ACME responses read for their order.
const acmeMaxOrderBody = 1 << 20

// orderLocations is the ACME client's transport. golang.org/x/crypto's
// acme client waits for a finalized order at the Location of the
// finalize response; RFC 8555 does not require that header and some
// CAs (pebble since 2.8, Buypass) leave it out, which made the client
// POST to "" and never get the certificate. This fills it in: every
// order object seen (the new-order answer, an order fetched) maps its
// finalize URL to the order's URL.
type orderLocations struct {
	next http.RoundTripper

	mu     sync.Mutex
	orders map[string]string // finalize URL → order URL
}

func (o *orderLocations) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := o.next.RoundTrip(req)
	if err != nil || req.Method != http.MethodPost || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return resp, err
	}
	reqURL := req.URL.String()
	o.mu.Lock()
	order, finalizing := o.orders[reqURL]
	o.mu.Unlock()
	if finalizing && resp.Header.Get("Location") == "" {
		resp.Header.Set("Location", order)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, acmeMaxOrderBody+1))
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil || len(body) > acmeMaxOrderBody {
		resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{err}))
		return resp, nil
	}
	var obj struct {
		Finalize string `json:"finalize"`
	}
	if json.Unmarshal(body, &obj) != nil || obj.Finalize == "" || obj.Finalize == reqURL {
		return resp, nil
	}
	url := resp.Header.Get("Location") // a new order's
	if url == "" {
		url = reqURL // an order fetched by its URL
	}
	o.mu.Lock()
	if o.orders == nil || len(o.orders) >= 1024 {
		o.orders = map[string]string{}
	}
	o.orders[obj.Finalize] = url
	o.mu.Unlock()
	return resp, nil
}

// errReader fails a body read with err (io.EOF when nil: a body over
// the bound is cut there).
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) {
	if e.err == nil {
		return 0, io.EOF
	}
	return 0, e.err
}
