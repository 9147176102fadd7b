package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bluegreen-dev/bluegreen/internal/router"
)

// Limits against slow or abusive clients. The production and preview
// listeners take theirs from the limits section; the admin and redirect
// listeners have these.
const (
	readHeaderTimeout   = 10 * time.Second
	idleTimeout         = 2 * time.Minute
	maxHeaderBytes      = 64 << 10
	adminMaxConnections = 512
)

// listener is one of the server's HTTP listeners.
type listener struct {
	name string
	srv  *http.Server // with TLSConfig on an HTTPS listener
	ln   net.Listener // raw, or wrapped by the connection limit
	raw  net.Listener // the listening socket itself (passed on a handoff)
	acme *acmeCerts   // certificates from ACME (listen_tls.acme), else nil
	// fast serves plain HTTP/1.1 requests of the production and preview
	// listeners without net/http's server (router.FastListener); nil on
	// the others and on HTTPS.
	fast *router.FastListener
	// handedOff is set when this process stopped accepting on it after a
	// handoff: its accept loop ends without an error.
	handedOff atomic.Bool
}

// openListeners binds the production listener, the preview listener (with
// preview_listen) and the admin listener (serving admin), last in New:
// the router holds the restored world by then.
func (s *Server) openListeners(ctx context.Context, admin http.Handler, reg prometheus.Registerer) error {
	m := newConnMetrics(reg)
	lim := s.cfg.Limits
	open := func(name, key, addr string, h http.Handler) (*listener, error) {
		tc, acme, err := listenerTLS(ctx, s.cfg, key, s.log)
		if err != nil {
			return nil, err
		}
		l, err := s.listen(ctx, name, addr, h)
		if err != nil {
			return nil, err
		}
		l.srv.TLSConfig, l.acme = tc, acme
		max := adminMaxConnections
		if name != "admin" {
			max = lim.MaxConnections
			l.srv.ReadHeaderTimeout, l.srv.IdleTimeout = lim.ReadHeaderTimeout.D(), lim.IdleTimeout.D()
		}
		cl := limitConns(l.ln, name, max, m, s.log)
		l.ln, l.srv.ConnState = cl, cl.connState
		if name != "admin" && tc == nil {
			l.fast = s.router.FastListener(cl, router.ServeOptions{
				Handler:           l.srv.Handler, // with the handoff's Connection: close
				ReadHeaderTimeout: l.srv.ReadHeaderTimeout,
				IdleTimeout:       l.srv.IdleTimeout,
				ConnState:         cl.connState,
				BaseContext:       context.WithoutCancel(ctx),
			})
			l.srv.ConnState = l.fast.ConnStateFunc() // l.ln stays the limit; serve serves l.fast
		}
		return l, nil
	}
	var err error
	if s.production, err = open("production", "listen", s.cfg.Listen, s.router.Production()); err != nil {
		return err
	}
	if s.cfg.PreviewListen != "" {
		if s.preview, err = open("preview", "preview_listen", s.cfg.PreviewListen, s.router.Preview()); err != nil {
			return err
		}
	}
	if s.admin, err = open("admin", "admin_listen", s.cfg.AdminListen, admin); err != nil {
		return err
	}
	if s.cfg.RedirectListen != "" {
		h := redirectHandler(s.production.addr)
		if a := s.production.acme; a != nil {
			h = a.challenge(h) // HTTP-01 on port 80
		}
		if s.redirect, err = s.listen(ctx, "redirect", s.cfg.RedirectListen, h); err != nil {
			return err
		}
	}
	return nil
}

// listen binds addr now, so a port conflict fails New, not a goroutine —
// or takes the socket a handed-off serve passed for name.
func (s *Server) listen(ctx context.Context, name, addr string, h http.Handler) (*listener, error) {
	log := s.log
	ln, err := s.inheritedListener(name, addr)
	if err != nil {
		return nil, err
	}
	if ln == nil {
		var lc net.ListenConfig
		if ln, err = lc.Listen(ctx, "tcp", addr); err != nil {
			return nil, fmt.Errorf("listen %s on %s: %w", name, addr, err)
		}
	}
	srv := &http.Server{
		Handler:           s.closeOnHandoff(h),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	return &listener{name: name, srv: srv, ln: ln, raw: ln}, nil
}

func (l *listener) addr() string { return l.ln.Addr().String() }

// serve blocks until the listener is shut down. An HTTPS listener also
// speaks HTTP/2 (ServeTLS sets it up from the TLS config's ALPN).
func (l *listener) serve() error {
	var err error
	switch {
	case l.srv.TLSConfig != nil:
		err = l.srv.ServeTLS(l.ln, "", "")
	case l.fast != nil:
		err = l.srv.Serve(l.fast)
	default:
		err = l.srv.Serve(l.ln)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) && !(l.handedOff.Load() && errors.Is(err, net.ErrClosed)) {
		return fmt.Errorf("%s listener: %w", l.name, err)
	}
	return nil
}
