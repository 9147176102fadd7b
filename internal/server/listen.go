package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
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
	ln   net.Listener
	// fast serves plain HTTP/1.1 requests of the production and preview
	// listeners without net/http's server (router.FastListener); nil on
	// the others and on HTTPS.
	fast *router.FastListener
}

// openListeners binds the production listener, the preview listener (with
// preview_listen) and the admin listener (serving admin), last in New:
// the router holds the restored world by then.
func (s *Server) openListeners(ctx context.Context, admin http.Handler, reg prometheus.Registerer) error {
	m := newConnMetrics(reg)
	lim := s.cfg.Limits
	open := func(name, key, addr string, h http.Handler) (*listener, error) {
		tc, err := listenerTLS(s.cfg, key, s.log)
		if err != nil {
			return nil, err
		}
		l, err := listen(ctx, name, addr, h, s.log)
		if err != nil {
			return nil, err
		}
		l.srv.TLSConfig = tc
		max := adminMaxConnections
		if name != "admin" {
			max = lim.MaxConnections
			l.srv.ReadHeaderTimeout, l.srv.IdleTimeout = lim.ReadHeaderTimeout.D(), lim.IdleTimeout.D()
		}
		cl := limitConns(l.ln, name, max, m, s.log)
		l.ln, l.srv.ConnState = cl, cl.connState
		if name != "admin" && tc == nil {
			l.fast = s.router.FastListener(cl, router.ServeOptions{
				Handler:           h,
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
		if s.redirect, err = listen(ctx, "redirect", s.cfg.RedirectListen, redirectHandler(s.production.addr), s.log); err != nil {
			return err
		}
	}
	return nil
}

// listen binds addr now, so a port conflict fails New, not a goroutine.
func listen(ctx context.Context, name, addr string, h http.Handler, log *slog.Logger) (*listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s on %s: %w", name, addr, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	return &listener{name: name, srv: srv, ln: ln}, nil
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
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s listener: %w", l.name, err)
	}
	return nil
}
