package server

import (
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// connLimit bounds the client connections one listener keeps open
// (limits.max_connections). At the limit, a new connection takes the
// place of one that holds no request — the oldest still sending its
// first request's headers (a slowloris client looks like that), or when
// there is none the oldest idle between requests — so that clients that
// cannot finish a request do not lock out those that can. When every
// open connection is busy with a request, or hijacked by a WebSocket, the
// new one is closed at once.
type connLimit struct {
	net.Listener
	name string
	max  int
	log  *slog.Logger
	m    *connMetrics

	mu      sync.Mutex
	conns   map[*limitedConn]struct{}
	lastLog time.Time
}

// limitedConn is one accepted connection and the state the HTTP server
// last reported for it.
type limitedConn struct {
	net.Conn
	l    *connLimit
	once sync.Once
	// st is the state and, for StateNew and StateIdle (the states a
	// victim is chosen among), when it entered it: nanoseconds since
	// clockBase shifted left by 3, or'ed with the state. One atomic word,
	// so that the server's state changes (two per request) take no lock.
	st atomic.Uint64
}

// clockBase is the origin of limitedConn's times (a monotonic clock:
// time.Since of it reads no wall clock).
var clockBase = time.Now()

func (c *limitedConn) set(st http.ConnState) {
	v := uint64(st) & 7
	if st == http.StateNew || st == http.StateIdle {
		v |= uint64(time.Since(clockBase)) << 3
	}
	c.st.Store(v)
}

// state is the connection's state and when it entered it (0 for a state
// other than StateNew and StateIdle).
func (c *limitedConn) state() (http.ConnState, uint64) {
	v := c.st.Load()
	return http.ConnState(v & 7), v >> 3
}

// connMetrics are the listeners' connection metrics.
type connMetrics struct {
	open    *prometheus.GaugeVec
	dropped *prometheus.CounterVec
}

func newConnMetrics(reg prometheus.Registerer) *connMetrics {
	m := &connMetrics{
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bluegreen_connections_open",
			Help: "Client connections open on a listener.",
		}, []string{"listener"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bluegreen_connections_dropped_total",
			Help: "Client connections closed because the listener was at limits.max_connections: reason evicted (an idle or unfinished connection made room for a new one) or refused (every connection was busy).",
		}, []string{"listener", "reason"}),
	}
	reg.MustRegister(m.open, m.dropped)
	return m
}

// limitConns wraps ln; max 0 counts connections without a limit.
func limitConns(ln net.Listener, name string, max int, m *connMetrics, log *slog.Logger) *connLimit {
	m.open.WithLabelValues(name)
	for _, r := range []string{"evicted", "refused"} {
		m.dropped.WithLabelValues(name, r)
	}
	return &connLimit{Listener: ln, name: name, max: max, m: m, log: log, conns: map[*limitedConn]struct{}{}}
}

// Accept returns the next connection admitted under the limit.
func (l *connLimit) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		lc := &limitedConn{Conn: c, l: l}
		lc.set(http.StateNew)
		victim, ok := l.admit(lc)
		if victim != nil {
			_ = victim.Conn.Close()
		}
		if ok {
			return lc, nil
		}
		_ = c.Close()
	}
}

// admit counts lc in, making room by evicting the oldest connection that
// holds no request; ok is false when there is no room.
func (l *connLimit) admit(lc *limitedConn) (victim *limitedConn, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && len(l.conns) >= l.max {
		victim = l.victimLocked()
		reason := "refused"
		if victim != nil {
			reason = "evicted"
			delete(l.conns, victim)
		}
		l.m.dropped.WithLabelValues(l.name, reason).Inc()
		if now := time.Now(); now.Sub(l.lastLog) >= 10*time.Second {
			l.lastLog = now
			if victim != nil {
				l.log.Warn("listener at limits.max_connections: closing the oldest connection without a request in progress to make room",
					"listener", l.name, "max_connections", l.max, "closed_state", victimState(victim).String(), "closed_remote", victim.RemoteAddr().String())
			} else {
				l.log.Warn("listener at limits.max_connections and every connection is busy: refusing new connections",
					"listener", l.name, "max_connections", l.max)
			}
		}
		if victim == nil {
			return nil, false
		}
	}
	l.conns[lc] = struct{}{}
	l.m.open.WithLabelValues(l.name).Set(float64(len(l.conns)))
	return victim, true
}

// victimLocked picks the connection to close to make room: the oldest one
// still sending its first request's headers, else the oldest idle one.
// A connection that finished a request is kept over any that never did:
// the former is a client that works, which a close sends back to the end
// of the accept queue — behind the slowloris connections that fill it in
// an attack — while the latter is what such an attack holds open.
func (l *connLimit) victimLocked() (victim *limitedConn) {
	var vst http.ConnState
	var vsince uint64
	for c := range l.conns {
		st, since := c.state()
		switch {
		case st != http.StateNew && st != http.StateIdle:
		case victim == nil,
			st == http.StateNew && vst == http.StateIdle,
			st == vst && since < vsince:
			victim, vst, vsince = c, st, since
		}
	}
	return victim
}

func victimState(c *limitedConn) http.ConnState {
	st, _ := c.state()
	return st
}

// connState is the http.Server's ConnState hook: it follows each
// connection's state so that admit knows which ones hold no request.
func (l *connLimit) connState(c net.Conn, st http.ConnState) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	if st == http.StateClosed {
		lc.forget()
		return
	}
	lc.set(st)
}

// Close closes the connection and counts it out (a hijacked connection is
// counted until whoever took it closes it).
func (c *limitedConn) Close() error {
	c.forget()
	return c.Conn.Close()
}

func (c *limitedConn) forget() {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.m.open.WithLabelValues(c.l.name).Set(float64(len(c.l.conns)))
		c.l.mu.Unlock()
	})
}
