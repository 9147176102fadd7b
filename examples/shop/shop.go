package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// shop serves the endpoints. It is safe for concurrent use.
type shop struct {
	cfg      config
	instance string // the port: an id without a hostname
	readyAt  time.Time
	now      func() time.Time

	stopping chan struct{} // closed when shutdown begins: streams end
	stopOnce sync.Once
}

func newShop(cfg config, addr net.Addr, now func() time.Time) *shop {
	instance := addr.String()
	if _, port, err := net.SplitHostPort(instance); err == nil {
		instance = port
	}
	return &shop{
		cfg: cfg, instance: instance, now: now,
		readyAt:  now().Add(cfg.readyDelay),
		stopping: make(chan struct{}),
	}
}

func (s *shop) stopStreams() { s.stopOnce.Do(func() { close(s.stopping) }) }

func (s *shop) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", s.health)
	mux.Handle("GET /{$}", s.app(s.home))
	mux.Handle("GET /slow", s.app(s.slow))
	mux.Handle("GET /events", s.app(s.events))
	mux.Handle("/echo", s.app(s.echo))
	mux.Handle("POST /mcp", s.app(s.mcp))
	return mux
}

// app adds the simulated latency and failures of a bad release.
func (s *shop) app(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.latency > 0 {
			t := time.NewTimer(s.cfg.latency)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		if s.cfg.failRate > 0 && rand.Float64() < s.cfg.failRate {
			s.writeJSON(w, http.StatusInternalServerError, map[string]string{
				"error": "simulated failure", "version": s.cfg.version, "slot": s.cfg.slot,
			})
			return
		}
		next(w, r)
	})
}

type healthReply struct {
	Status  string `json:"status"`
	Version string `json:"version,omitempty"`
	Slot    string `json:"slot,omitempty"`
}

func (s *shop) health(w http.ResponseWriter, _ *http.Request) {
	if s.now().Before(s.readyAt) {
		s.writeJSON(w, http.StatusServiceUnavailable, healthReply{Status: "starting"})
		return
	}
	s.writeJSON(w, http.StatusOK, healthReply{Status: "healthy", Version: s.cfg.version, Slot: s.cfg.slot})
}

// homeReply is the shop's front page. Versions differ: the message names
// the version, and every version after v1 adds Featured.
type homeReply struct {
	Service  string   `json:"service"`
	Message  string   `json:"message"`
	Version  string   `json:"version"`
	Slot     string   `json:"slot"`
	Instance string   `json:"instance"`
	Featured []string `json:"featured,omitempty"`
}

func (s *shop) home(w http.ResponseWriter, _ *http.Request) {
	rep := homeReply{
		Service: "shop", Message: "shop " + s.cfg.version,
		Version: s.cfg.version, Slot: s.cfg.slot, Instance: s.instance,
	}
	if s.cfg.version != "v1" {
		rep.Featured = []string{"espresso machine", "pour-over kettle"}
	}
	s.writeJSON(w, http.StatusOK, rep)
}

const maxSlow = time.Minute

// slow answers after ?ms=N milliseconds (at most a minute).
func (s *shop) slow(w http.ResponseWriter, r *http.Request) {
	ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
	if err != nil || ms < 0 || time.Duration(ms)*time.Millisecond > maxSlow {
		s.writeJSON(w, http.StatusBadRequest, map[string]string{"error": "want ?ms=N with N from 0 to 60000"})
		return
	}
	t := time.NewTimer(time.Duration(ms) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
		return
	}
	s.writeJSON(w, http.StatusOK, map[string]any{
		"slept_ms": ms, "version": s.cfg.version, "slot": s.cfg.slot, "instance": s.instance,
	})
}

const eventEvery = 200 * time.Millisecond

// events streams one server-sent event every 200ms until the client
// leaves or the shop shuts down.
func (s *shop) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	tick := time.NewTicker(eventEvery)
	defer tick.Stop()
	for seq := 1; ; seq++ {
		data, err := json.Marshal(map[string]any{
			"seq": seq, "version": s.cfg.version, "slot": s.cfg.slot, "instance": s.instance,
		})
		if err != nil {
			return
		}
		if _, err := fmt.Fprintf(w, "id: %d\nevent: tick\ndata: %s\n\n", seq, data); err != nil {
			return // the client left
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-s.stopping:
			return
		case <-tick.C:
		}
	}
}

const maxEcho = 1 << 20

type echoReply struct {
	Method   string              `json:"method"`
	Path     string              `json:"path"`
	Query    string              `json:"query"`
	Headers  map[string][]string `json:"headers"`
	Body     string              `json:"body"`
	Version  string              `json:"version"`
	Slot     string              `json:"slot"`
	Instance string              `json:"instance"`
}

// echo answers with the request it got, for router tests.
func (s *shop) echo(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEcho))
	if err != nil {
		s.writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "read body: " + err.Error()})
		return
	}
	s.writeJSON(w, http.StatusOK, echoReply{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Headers: r.Header, Body: string(body),
		Version: s.cfg.version, Slot: s.cfg.slot, Instance: s.instance,
	})
}

func (s *shop) writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	// An encoding error here means the client left; there is no one to tell.
	_ = json.NewEncoder(w).Encode(v)
}
