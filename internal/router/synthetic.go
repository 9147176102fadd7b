package router

import (
	"context"
	"net/http"
	"net/http/httputil"
	"time"
)

// HeaderSynthetic marks a request the instance receives as bluegreen's
// synthetic traffic (value "1"), so an app can keep it out of its own
// analytics and side effects. The router removes it from every client
// request: an instance can trust it.
const HeaderSynthetic = "X-Bluegreen-Synthetic"

// Synthetic returns the handler of analysis' synthetic requests to slot
// (nil for an invalid slot). It is called in process, not served on a
// listener: a request it handles goes through the slot's proxy like any
// other — instance choice, retries, MCP session pins, MCP error inspection
// — and is marked to the instance with HeaderSynthetic. It is counted
// only on the slot's synthetic meters (MeasureOf with SyntheticTraffic):
// not in the user measurement, not in bluegreen_requests_total or
// bluegreen_request_duration_seconds, not in the in-flight requests a
// drain waits for. Its context bounds it; a drain or CancelAll does not.
func (r *Router) Synthetic(slot Slot) http.Handler {
	i := slot.Index()
	if i < 0 {
		return nil
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.serveSynthetic(w, req, i)
	})
}

// serveSynthetic serves a synthetic request on slot index i.
func (r *Router) serveSynthetic(w http.ResponseWriter, req *http.Request, i int) {
	s := &r.slots[i]
	var b *backend
	if r.sessions != nil {
		_, b, _ = r.pinned(req, i)
	}
	ri := &requestInfo{Context: req.Context(), start: time.Now(), backend: b, kind: kindSynthetic}
	out, ok := r.outbound(w, req, s, ri)
	if !ok {
		return
	}
	if b != nil {
		s.pinnedProxy.ServeHTTP(w, out)
		return
	}
	s.proxy.ServeHTTP(w, out)
}

// synthetic reports whether the request of ctx is a synthetic one.
func synthetic(ctx context.Context) bool {
	ri := infoOf(ctx)
	return ri != nil && ri.kind == kindSynthetic
}

// markSynthetic removes HeaderSynthetic from an outbound request and sets
// it again on a synthetic one.
func markSynthetic(pr *httputil.ProxyRequest) {
	if synthetic(pr.In.Context()) {
		pr.Out.Header[HeaderSynthetic] = []string{"1"}
		return
	}
	delete(pr.Out.Header, HeaderSynthetic)
}
