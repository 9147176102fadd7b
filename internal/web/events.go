package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// keepAlive is how often an idle event stream sends a comment, so proxies
// and clients see the connection is alive.
const keepAlive = 15 * time.Second

// statusEvery is how often a stream that asked for the status checks it
// for a change (weights, health, in-flight counts, time left).
const statusEvery = 2 * time.Second

// statusSettle is when the status is looked at again after an event.
const statusSettle = 300 * time.Millisecond

// streamOptions are what a client asked of the event stream with
// ?include=status,samples.
type streamOptions struct {
	status  bool // event: status, the whole GET /api/v1/status
	samples bool // event: sample, each new metrics point
}

func parseInclude(q string) (streamOptions, error) {
	var o streamOptions
	if q == "" {
		return o, nil
	}
	for _, part := range strings.Split(q, ",") {
		switch strings.TrimSpace(part) {
		case "status":
			o.status = true
		case "samples":
			o.samples = true
		case "":
		default:
			return o, fmt.Errorf("%w: include=%q: give status, samples or both, such as include=status,samples", ErrBadRequest, q)
		}
	}
	return o, nil
}

// events streams every persisted deployment event as server-sent events:
// "event: deployment" with the event as JSON data, "id:" the event id.
//
// With ?include=status the stream also carries "event: status" (the body
// of GET /api/v1/status): once at the start, after each deployment event,
// and whenever it changed, checked every 2s. With ?include=samples it
// carries "event: sample", each new point of the metrics series. So one
// connection keeps a dashboard or `status --watch` current without
// polling.
func (h *handler) events(w http.ResponseWriter, r *http.Request) {
	opts, err := parseInclude(r.URL.Query().Get("include"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, fmt.Errorf("streaming unsupported by this connection"))
		return
	}
	rc := http.NewResponseController(w)
	// An event stream lives longer than the server's write timeout.
	_ = rc.SetWriteDeadline(time.Time{})
	evs, cancel := h.opts.Backend.Subscribe(64)
	defer cancel()
	var samples <-chan Point
	if opts.samples && h.opts.Series != nil {
		ch, stop := h.opts.Series.Subscribe(8)
		defer stop()
		samples = ch
	}
	// Migration events (see Options.MigrationEvents) come on their own
	// channel; nil blocks forever in the select below.
	var migrations <-chan any
	if h.opts.MigrationEvents != nil {
		ch, stop := h.opts.MigrationEvents(16)
		defer stop()
		migrations = ch
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": bluegreen events\n\n")
	flusher.Flush()

	out := sse{w: w, f: flusher, log: h.log}
	var lastStatus []byte
	// sendStatus writes the status if it changed since the last one sent;
	// false when the client is gone.
	sendStatus := func() bool {
		st, err := h.opts.Backend.Status(r.Context())
		if err != nil {
			if r.Context().Err() != nil {
				return false
			}
			h.log.Warn("status for the event stream", "err", err)
			return true
		}
		data, err := json.Marshal(st)
		if err != nil {
			h.log.Error("encode status", "err", err)
			return true
		}
		if bytes.Equal(data, lastStatus) {
			return true
		}
		lastStatus = data
		return out.write("status", "", data)
	}
	var statusTick <-chan time.Time
	if opts.status {
		if !sendStatus() {
			return
		}
		t := time.NewTicker(statusEvery)
		defer t.Stop()
		statusTick = t.C
	}
	// The controller announces a transition when it is persisted, just
	// before it swaps the route: a second look shortly after the event
	// shows the router as it then is.
	soon := time.NewTimer(time.Hour)
	soon.Stop()
	defer soon.Stop()
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			flusher.Flush()
		case <-statusTick:
			if !sendStatus() {
				return
			}
		case <-soon.C:
			if !sendStatus() {
				return
			}
		case p := <-samples:
			if !out.send("sample", "", p) {
				return
			}
		case ev, ok := <-migrations:
			if !ok {
				migrations = nil
				continue
			}
			if !out.send("migration", "", ev) {
				return
			}
		case ev, ok := <-evs:
			if !ok {
				return
			}
			if !out.send("deployment", strconv.FormatInt(ev.ID, 10), ev) {
				return
			}
			if opts.status {
				if !sendStatus() {
					return
				}
				soon.Reset(statusSettle)
			}
		}
	}
}

// sse writes server-sent events to one client, each flushed at once.
type sse struct {
	w   io.Writer
	f   http.Flusher
	log *slog.Logger
}

// send writes one event of kind event with v as its JSON data, and id
// when not empty. It returns false when the client is gone; a value that
// cannot be encoded is logged and skipped.
func (s sse) send(event, id string, v any) bool {
	data, err := json.Marshal(v)
	if err != nil {
		s.log.Error("encode "+event+" event", "err", err)
		return true
	}
	return s.write(event, id, data)
}

// write writes one event whose data is already encoded.
func (s sse) write(event, id string, data []byte) bool {
	if id != "" {
		if _, err := fmt.Fprintf(s.w, "id: %s\n", id); err != nil {
			return false
		}
	}
	if _, err := fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", event, data); err != nil {
		return false
	}
	s.f.Flush()
	return true
}
