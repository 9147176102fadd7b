package router

import (
	"io"
	"net/http"
	"net/http/httputil"
	"strings"
)

// proxyDirect is what the slot's ReverseProxy does, for a request the
// client-side fast path read (directWriter.bypass: a GET or HEAD without a
// body, Te or upgrade): the outbound request prepared as ReverseProxy
// prepares it (a clone without hop-by-hop headers, then the router's
// rewrite), the exchange through the slot's transport (instance choice,
// retries, passive health, the fast path to the instance), the response
// hooks, and the answer copied to the client without ReverseProxy's
// per-request trace, flush timer and copy machinery. The conformance test
// holds the two to the same bytes.
func (r *Router) proxyDirect(w *directWriter, in *http.Request, s *slotState) {
	out := cloneOutbound(in, w.dc.maps.out())
	out.Body = nil
	out.Close = false
	out.RequestURI = ""
	r.rewrite(&httputil.ProxyRequest{In: in, Out: out})
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header["User-Agent"] = noUserAgent
	}
	if ri := infoOf(in.Context()); ri != nil {
		ri.direct = w // 1xx interim responses (interim), the response's header map
	}
	w.dc.maps.proxied = true
	res, err := s.proxy.Transport.RoundTrip(out)
	if err != nil {
		r.errorHandler(s)(w, out, err)
		return
	}
	removeHopByHop(res.Header)
	_ = s.proxy.ModifyResponse(res) // never fails (modifyResponse)
	var h http.Header
	if len(w.h) == 0 && res.Header != nil {
		// Nothing set on the answer yet: it takes the instance's header
		// map itself rather than a copy of every line (res.Header is not
		// read after this).
		w.h = res.Header
		h = w.h
	} else {
		h = w.Header()
		for k, vv := range res.Header {
			h[k] = append(h[k], vv...)
		}
	}
	if len(res.Trailer) > 0 {
		keys := make([]string, 0, len(res.Trailer))
		for k := range res.Trailer {
			keys = append(keys, k)
		}
		h.Add("Trailer", strings.Join(keys, ", "))
	}
	w.WriteHeader(res.StatusCode)
	stream := res.ContentLength < 0 || isEventStream(res)
	buf := r.bufs.Get()
	err = copyTo(w, res.Body, buf, stream)
	r.bufs.Put(buf)
	if err != nil {
		res.Body.Close()
		panic(http.ErrAbortHandler) // as ReverseProxy: the client sees a cut answer
	}
	res.Body.Close() // fills res.Trailer
	if len(res.Trailer) > 0 {
		w.Flush()
		for k, vv := range res.Trailer {
			for _, v := range vv {
				h.Add(k, v)
			}
		}
	}
}

// cloneOutbound is in.Clone for proxyDirect, with the headers
// ReverseProxy removes before its Rewrite (the hop-by-hop ones, those
// Connection names, Forwarded and X-Forwarded-*) left out as it copies:
// the request and its URL are copied, the header map is new with room for
// the X-Forwarded-* the rewrite adds, and its value slices are in's,
// capped so that an append copies (what the rewrite changes it replaces or
// deletes, never edits in place). The header map is into when it is not
// nil (empty: headerMaps), else a new one.
func cloneOutbound(in *http.Request, into http.Header) *http.Request {
	out := new(http.Request)
	*out = *in
	u := *in.URL
	out.URL = &u
	h := into
	if h == nil {
		h = make(http.Header, len(in.Header)+4)
	}
	for k, vv := range in.Header {
		if !hopByHop(k) && !forwardedHeader(k) {
			h[k] = vv[:len(vv):len(vv)]
		}
	}
	removeConnectionNamed(h, in.Header["Connection"])
	out.Header = h
	if in.Trailer != nil {
		out.Trailer = in.Trailer.Clone()
	}
	return out
}

// noUserAgent is the outbound User-Agent of a request that had none: an
// empty one, so that the instance sees none (not Go's default), as
// ReverseProxy does. Shared and read only; cap 1 so an append copies.
var noUserAgent = []string{""}[:1:1]

// interim relays a 1xx response to the client, as ReverseProxy's trace
// does.
func (w *directWriter) interim(code int, header http.Header) {
	h := w.Header()
	for k, vv := range header {
		h[k] = append(h[k], vv...)
	}
	w.WriteHeader(code)
	clear(h)
}

// copyTo copies body to w, flushing after every read when stream is set
// (an unsized answer or SSE, which ReverseProxy flushes at once too).
func copyTo(w *directWriter, body io.Reader, buf []byte, stream bool) error {
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return err
			}
			if stream {
				w.Flush()
				if w.err != nil {
					return w.err
				}
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// removeHopByHop removes the hop-by-hop headers of h and those its
// Connection header names.
func removeHopByHop(h http.Header) {
	removeConnectionNamed(h, h["Connection"])
	for k := range h {
		if hopByHop(k) {
			delete(h, k)
		}
	}
}

// removeConnectionNamed removes from h the headers a Connection header
// with values conn names.
func removeConnectionNamed(h http.Header, conn []string) {
	for _, f := range conn {
		for sf := range strings.SplitSeq(f, ",") {
			if sf = strings.TrimSpace(sf); sf != "" {
				delete(h, http.CanonicalHeaderKey(sf))
			}
		}
	}
}

// hopByHop reports whether the canonical header name k is a hop-by-hop
// header a proxy removes (RFC 9110 §7.6.1), as ReverseProxy lists them.
func hopByHop(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// forwardedHeader reports whether k is one of the headers ReverseProxy
// drops before its Rewrite sets them anew.
func forwardedHeader(k string) bool {
	switch k {
	case "Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto":
		return true
	}
	return false
}
