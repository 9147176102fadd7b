package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// keepAlive is how often an idle event stream sends a comment, so proxies
// and clients see the connection is alive.
const keepAlive = 15 * time.Second

// events streams every persisted deployment event as server-sent events:
// "event: deployment" with the event as JSON data, "id:" the event id.
func (h *handler) events(w http.ResponseWriter, r *http.Request) {
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
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": bluegreen events\n\n")
	flusher.Flush()
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
		case ev, ok := <-evs:
			if !ok {
				return
			}
			data, err := json.Marshal(ev)
			if err != nil {
				h.log.Error("encode event", "err", err)
				continue
			}
			if _, err := fmt.Fprintf(w, "id: %d\nevent: deployment\ndata: %s\n\n", ev.ID, data); err != nil {
				return
			}
			flusher.Flush()
		}
	}
}
