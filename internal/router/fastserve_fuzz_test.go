package router

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"slices"
	"testing"
)

// FuzzParseRequestHead: the client-side fast path's request-head parser
// never panics, and whatever it accepts net/http's server parser accepts
// too, with the same method, target (URL field by field), host, length
// and header values — a head the two read differently would let a client
// smuggle a request past one of them. (It may refuse more: those go to net/http.)
func FuzzParseRequestHead(f *testing.F) {
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: shop.example\r\n\r\n",
		"GET /a?b=c HTTP/1.1\r\nHost: shop.example:8080\r\nAccept: */*\r\nX-Dup: 1\r\nx-dup: 2\r\n\r\n",
		"POST /orders HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: close\r\n\r\n",
		"HEAD /x HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
		"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.0\r\n\r\n",
		"GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a%20b/c?d=%41#e HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a? HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET //x/y;z=1,2@h:p+q$&~ HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /caf\xc3\xa9?q=\xff HTTP/1.1\r\nHost: a\r\n\r\n",
		"G\x00T / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	dc := &directConn{fl: &FastListener{ctx: context.Background()}, remote: "192.0.2.1:1234"}
	f.Fuzz(func(t *testing.T, in []byte) {
		// readHead hands parse one head ending at the first blank line.
		if i := bytes.Index(in, []byte("\r\n\r\n")); i >= 0 {
			in = in[:i]
		}
		head := append(slices.Clip(in), "\r\n\r\n"...)
		ours, ok := dc.parse(head)
		if !ok {
			return
		}
		theirs, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
		if err != nil {
			t.Fatalf("the fast path accepts a head net/http refuses (%v):\n%q", err, head)
		}
		if ours.Method != theirs.Method || ours.RequestURI != theirs.RequestURI || ours.Host != theirs.Host ||
			ours.ContentLength != theirs.ContentLength || ours.Close != theirs.Close || *ours.URL != *theirs.URL {
			t.Fatalf("the two read %q differently:\nfast:     %s %s host %q length %d close %v url %s\nnet/http: %s %s host %q length %d close %v url %s",
				head, ours.Method, ours.RequestURI, ours.Host, ours.ContentLength, ours.Close, ours.URL,
				theirs.Method, theirs.RequestURI, theirs.Host, theirs.ContentLength, theirs.Close, theirs.URL)
		}
		for k, v := range ours.Header {
			if !slices.Equal(v, theirs.Header[k]) {
				t.Fatalf("header %s: fast %q, net/http %q in\n%q", k, v, theirs.Header[k], head)
			}
		}
		for k := range theirs.Header {
			if _, ok := ours.Header[k]; !ok && k != "Host" {
				t.Fatalf("header %s read by net/http only in\n%q", k, head)
			}
		}
	})
}
