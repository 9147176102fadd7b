package router

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Long-lived responses — server-sent events and WebSockets — are streams.
// A drain deadline or CancelAll does not cut them: it ends them cleanly,
// an SSE stream after a complete event with a retry hint (sse.go), a
// WebSocket with a close frame 1001 to both peers (websocket.go). A stream
// that cannot end cleanly within streamGrace (an event or a frame that
// never completes, a peer that never answers the close) is cut.

// DefaultStreamGrace is how long, after a drain deadline or CancelAll, a
// stream may take to reach an event or frame boundary and finish the
// WebSocket close handshake before its connections are closed.
const DefaultStreamGrace = 5 * time.Second

// The retry hint sent before an SSE stream ends: the client waits between
// sseRetryMin and sseRetryMin+sseRetrySpread (uniformly random) before it
// reconnects, so the streams a drain ends at one instant come back spread
// over sseRetrySpread instead of as one burst.
const (
	sseRetryMin    = time.Second
	sseRetrySpread = 5 * time.Second
)

// streamEnder ends one stream cleanly when the router cancels its request
// (a drain deadline or CancelAll) instead of cancelling its context.
type streamEnder interface {
	// endStream starts ending the stream; cause says why. It must not
	// block: the drain calls it for every stream of an epoch in turn.
	endStream(cause error)
}

// streamKind says what a stream is.
type streamKind int

const (
	streamSSE streamKind = iota
	streamWebSocket
	numStreamKinds
)

func (k streamKind) String() string {
	switch k {
	case streamSSE:
		return "sse"
	case streamWebSocket:
		return "websocket"
	default:
		return "stream" + strconv.Itoa(int(k))
	}
}

// streamOutcome is how the router ended a stream.
type streamOutcome int

const (
	// outcomeDrained: ended at an event or frame boundary, with a retry
	// hint (SSE) or a close frame 1001 (WebSocket).
	outcomeDrained streamOutcome = iota
	// outcomeCut: the boundary or the close handshake did not come within
	// the grace period; the connection was closed as it was.
	outcomeCut
	numStreamOutcomes
)

func (o streamOutcome) String() string {
	switch o {
	case outcomeDrained:
		return "drained"
	case outcomeCut:
		return "cut"
	default:
		return "outcome" + strconv.Itoa(int(o))
	}
}

// slotStreams counts the streams of one slot, lock-free.
type slotStreams struct {
	open  [numStreamKinds]atomic.Int64
	ended [numStreamKinds][numStreamOutcomes]atomic.Int64
}

func (ss *slotStreams) status() StreamStatus {
	st := StreamStatus{
		SSE:       ss.open[streamSSE].Load(),
		WebSocket: ss.open[streamWebSocket].Load(),
	}
	for k := range numStreamKinds {
		st.Drained += ss.ended[k][outcomeDrained].Load()
		st.Cut += ss.ended[k][outcomeCut].Load()
	}
	return st
}

// streamCollectors returns the stream metrics of the router's slots.
func streamCollectors(r *Router) []prometheus.Collector {
	var cs []prometheus.Collector
	for i, slot := range allSlots() {
		ss := &r.slots[i].streams
		for k := range numStreamKinds {
			cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name:        "bluegreen_streams",
				Help:        "Streams open on the slot: server-sent events responses (sse) and WebSocket connections (websocket).",
				ConstLabels: prometheus.Labels{"slot": string(slot), "kind": k.String()},
			}, func() float64 { return float64(ss.open[k].Load()) }))
			for o := range numStreamOutcomes {
				cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{
					Name:        "bluegreen_streams_ended_total",
					Help:        "Streams the router ended at a drain deadline or shutdown: drained (after a complete event with a retry hint, or with a WebSocket close 1001) or cut (closed mid-event or mid-frame after the grace period).",
					ConstLabels: prometheus.Labels{"slot": string(slot), "kind": k.String(), "outcome": o.String()},
				}, func() float64 { return float64(ss.ended[k][o].Load()) }))
			}
		}
	}
	return cs
}

// trackStream, called on every proxied response, takes over the body of a
// stream: an SSE response, or the connection of a WebSocket upgrade, so
// that the router's cancellation ends it cleanly.
func (r *Router) trackStream(s *slotState, resp *http.Response, _ *requestInfo) {
	ri := infoOf(resp.Request.Context())
	if ri == nil || ri.reg == nil {
		return
	}
	switch {
	case resp.StatusCode == http.StatusSwitchingProtocols:
		if ri.ws != nil {
			ri.ws.attachBackend(resp)
		}
	case isEventStream(resp):
		gunzipStream(resp)
		resp.Body = newSSEBody(r, s, ri, resp.Body)
	}
}

// retryHint returns the SSE retry field sent before a drained stream ends,
// with a random delay in [sseRetryMin, sseRetryMin+sseRetrySpread).
func retryHint() []byte {
	d := sseRetryMin + rand.N(sseRetrySpread)
	return fmt.Appendf(nil, "retry: %d\n\n", d.Milliseconds())
}

// awaitIdle waits, up to timeout, until no request or stream is in flight
// on the given slots.
func (r *Router) awaitIdle(timeout time.Duration, slots ...*slotState) {
	idle := func() bool {
		for _, s := range slots {
			if s.inflight.Load() > 0 {
				return false
			}
		}
		return true
	}
	if idle() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !idle() {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
