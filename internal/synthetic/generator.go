package synthetic

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/slot"
)

// MaxInFlight bounds the synthetic requests in flight to one slot; a tick
// that finds them all busy sends nothing.
const MaxInFlight = 32

// deleteTimeout bounds the DELETE that ends an MCP session.
const deleteTimeout = 2 * time.Second

// Options configure a Generator.
type Options struct {
	// Config is analysis.synthetic (validated).
	Config config.Synthetic
	// Handler returns the in-process handler of a slot's synthetic
	// requests (router.Router.Synthetic).
	Handler func(s slot.Slot) http.Handler
	// Host is the Host header of requests that do not set one, such as
	// the production listener's address.
	Host string
	// Logger gets Info when traffic starts and stops, Debug per failure.
	// Nil discards.
	Logger *slog.Logger
	// Registry receives bluegreen_synthetic_requests_total and
	// bluegreen_synthetic_skipped_total. Nil keeps them private.
	Registry prometheus.Registerer
}

// Generator sends synthetic traffic to the slots it is told to target. It
// is safe for concurrent use; Run must be running for traffic to flow.
type Generator struct {
	cfg     config.Synthetic
	handler func(s slot.Slot) http.Handler
	host    string
	log     *slog.Logger
	period  time.Duration

	requests *prometheus.CounterVec
	skipped  *prometheus.CounterVec

	mu      sync.Mutex
	target  []slot.Slot
	changed chan struct{}
	running atomic.Bool
	// senders counts the slots' senders still running (their requests
	// included).
	senders atomic.Int64
}

// New checks opts and returns a Generator targeting no slot.
func New(opts Options) (*Generator, error) {
	c := opts.Config
	switch {
	case opts.Handler == nil:
		return nil, errors.New("new synthetic traffic: no handler")
	case c.Rate <= 0 || c.Rate > config.MaxSyntheticRate:
		return nil, fmt.Errorf("new synthetic traffic: rate %g outside (0, %d]", c.Rate, config.MaxSyntheticRate)
	case c.Timeout <= 0:
		return nil, errors.New("new synthetic traffic: timeout must be above 0")
	case len(c.Requests) == 0:
		return nil, errors.New("new synthetic traffic: no requests")
	}
	for i, r := range c.Requests {
		if r.MCP == nil && r.Path == "" {
			return nil, fmt.Errorf("new synthetic traffic: request %d has neither path nor mcp", i)
		}
	}
	g := &Generator{
		cfg:     c,
		handler: opts.Handler,
		host:    opts.Host,
		log:     opts.Logger,
		period:  time.Duration(float64(time.Second) / c.Rate),
		changed: make(chan struct{}, 1),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bluegreen_synthetic_requests_total",
			Help: "Synthetic requests of analysis sent to each slot, by answer status code (504: timed out, counted as an error of the slot). Not in bluegreen_requests_total.",
		}, []string{"slot", "code"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bluegreen_synthetic_skipped_total",
			Help: "Synthetic requests not sent because " + strconv.Itoa(MaxInFlight) + " were already in flight to the slot.",
		}, []string{"slot"}),
	}
	if g.host == "" {
		g.host = "localhost"
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if opts.Registry != nil {
		for _, c := range []prometheus.Collector{g.requests, g.skipped} {
			if err := opts.Registry.Register(c); err != nil {
				return nil, fmt.Errorf("register synthetic traffic metrics: %w", err)
			}
		}
	}
	return g, nil
}

// Target sends synthetic traffic to slots from now on (none: stop). It
// does not block; Run follows. Requests already in flight to a slot no
// longer targeted finish within the timeout.
func (g *Generator) Target(slots ...slot.Slot) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if slices.Equal(g.target, slots) {
		return
	}
	g.target = slices.Clone(slots)
	select {
	case g.changed <- struct{}{}:
	default:
	}
}

// Targets returns the slots targeted now.
func (g *Generator) Targets() []slot.Slot {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.target)
}

// Run sends traffic to the targeted slots until ctx ends, then cancels
// what is in flight, waits for it and returns nil.
func (g *Generator) Run(ctx context.Context) error {
	if !g.running.CompareAndSwap(false, true) {
		return errors.New("run synthetic traffic: already running")
	}
	defer g.running.Store(false)
	var wg sync.WaitGroup
	defer wg.Wait()
	senders := map[slot.Slot]context.CancelFunc{}
	defer func() {
		for _, stop := range senders {
			stop()
		}
	}()
	for {
		want := g.Targets()
		for sl, stop := range senders {
			if !slices.Contains(want, sl) {
				stop()
				delete(senders, sl)
				g.log.Info("synthetic traffic stopped", "slot", sl)
			}
		}
		for _, sl := range want {
			if _, ok := senders[sl]; ok {
				continue
			}
			h := g.handler(sl)
			if h == nil {
				g.log.Error("synthetic traffic: no handler for slot", "slot", sl)
				continue
			}
			sctx, stop := context.WithCancel(ctx)
			senders[sl] = stop
			s := newSender(g, sl, h)
			g.senders.Add(1)
			wg.Go(func() {
				defer g.senders.Add(-1)
				s.run(ctx, sctx)
			})
			g.log.Info("synthetic traffic started", "slot", sl, "rate", g.cfg.Rate, "requests", len(g.cfg.Requests))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-g.changed:
		}
	}
}

// sender sends one slot's synthetic traffic.
type sender struct {
	g    *Generator
	slot slot.Slot
	h    http.Handler
	// sessions holds the MCP session of each mcp request (by index).
	sessions map[int]*session
	inflight atomic.Int64
	ids      atomic.Int64 // JSON-RPC ids
}

func newSender(g *Generator, sl slot.Slot, h http.Handler) *sender {
	s := &sender{g: g, slot: sl, h: h, sessions: map[int]*session{}}
	for i, r := range g.cfg.Requests {
		if r.MCP != nil {
			s.sessions[i] = &session{}
		}
	}
	return s
}

// run ticks until sctx ends; requests run on ctx (Run's), so that they
// finish within their timeout when only this slot stops. It then ends the
// MCP sessions and waits for the requests in flight.
func (s *sender) run(ctx, sctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(s.g.period)
	defer tick.Stop()
	next := 0
	for {
		select {
		case <-sctx.Done():
			wg.Wait()
			s.endSessions(ctx)
			return
		case <-tick.C:
		}
		if s.inflight.Load() >= MaxInFlight {
			s.g.skipped.WithLabelValues(string(s.slot)).Inc()
			continue
		}
		i := next
		next = (next + 1) % len(s.g.cfg.Requests)
		s.inflight.Add(1)
		wg.Go(func() {
			defer s.inflight.Add(-1)
			s.send(ctx, i)
		})
	}
}

// send sends request i of the list.
func (s *sender) send(ctx context.Context, i int) {
	r := s.g.cfg.Requests[i]
	if r.MCP != nil {
		s.mcpTurn(ctx, r, s.sessions[i])
		return
	}
	s.do(ctx, r.Method, r.Path, r.Headers, r.Body, 0)
}

// do sends one request and returns its answer (with up to keep bytes of
// its body).
func (s *sender) do(ctx context.Context, method, path string, headers map[string]string, body string, keep int) *answer {
	ctx, cancel := context.WithTimeout(ctx, s.g.cfg.Timeout.D())
	defer cancel()
	req, err := newRequest(ctx, method, s.g.host, path, headers, body)
	if err != nil {
		// Validated config: only a bad path gets here.
		s.g.log.Error("synthetic request", "slot", s.slot, "path", path, "error", err)
		return &answer{code: 0}
	}
	a := newAnswer(keep)
	serve(s.h, a, req)
	a.finish()
	s.g.requests.WithLabelValues(string(s.slot), strconv.Itoa(a.code)).Inc()
	if a.code >= 500 {
		s.g.log.Debug("synthetic request failed", "slot", s.slot, "method", method, "path", path, "status", a.code)
	}
	return a
}

// endSessions ends the open MCP sessions with DELETE.
func (s *sender) endSessions(ctx context.Context) {
	for i, ss := range s.sessions {
		id, ok := ss.end()
		if !ok || id == "" {
			continue
		}
		r := s.g.cfg.Requests[i]
		dctx, cancel := context.WithTimeout(ctx, deleteTimeout)
		headers := mcpHeaders(r.Headers, id, ss.version, "", "")
		s.do(dctx, http.MethodDelete, r.MCP.Path, headers, "", 0)
		cancel()
	}
}

// serve runs h, recovering the http.ErrAbortHandler panic a handler may
// use to abort a response (net/http's server recovers it too).
func serve(h http.Handler, w http.ResponseWriter, req *http.Request) {
	defer func() {
		if v := recover(); v != nil && v != http.ErrAbortHandler {
			panic(v)
		}
	}()
	h.ServeHTTP(w, req)
}
