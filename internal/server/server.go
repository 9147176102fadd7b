package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/bluegreen-dev/bluegreen/internal/cluster"
	"github.com/bluegreen-dev/bluegreen/internal/config"
	"github.com/bluegreen-dev/bluegreen/internal/deploy"
	"github.com/bluegreen-dev/bluegreen/internal/handoff"
	"github.com/bluegreen-dev/bluegreen/internal/notify"
	"github.com/bluegreen-dev/bluegreen/internal/router"
	"github.com/bluegreen-dev/bluegreen/internal/store"
	"github.com/bluegreen-dev/bluegreen/internal/synthetic"
	"github.com/bluegreen-dev/bluegreen/internal/web"
)

// Server is one running bluegreen: router, controller, admin API.
type Server struct {
	cfg      *config.Config
	log      *slog.Logger
	store    store.Store
	router   *router.Router
	runtime  runtime
	ctrl     *deploy.Controller
	notifier *notify.Notifier
	// audits carries the admin API's audit entries to the webhooks (see
	// notify.go); nil without webhooks.
	audits chan store.Event
	// migrations follows `bluegreen migrate` runs (metric, events); nil
	// without migrations.database_url.
	migrations *migrationWatch
	// synthetic sends analysis.synthetic's traffic; nil when it is off.
	synthetic *synthetic.Generator
	// series samples the router's counters for the dashboard's charts.
	series *web.Series

	production, preview, admin *listener
	redirect                   *listener // redirect_listen, nil without

	// cluster is this serve as a node of the cluster sharing the state in
	// PostgreSQL (cluster.go); nil on SQLite. forwardRT carries commands
	// to the leader.
	cluster   *cluster.Node
	forwardRT http.RoundTripper

	// The handoff to a new binary (handoff.go): what this process
	// inherited from the serve it replaces (nil when it was started
	// normally), what triggers a handoff of its own and the new process's
	// arguments, and whether it has handed off.
	inherited      *handoff.Inherited
	handoffTrigger <-chan os.Signal
	handoffExe     string
	handoffArgs    []string
	handedOff      atomic.Bool
}

// New builds a server from cfg: each part from its builder, in the order
// they need each other; then the world as the store left it (routes,
// instances, MCP session pins) goes into the router before the listeners
// bind, so the first request after a restart goes where the last one
// before it went. Close it with Run's return, or Close if Run is never
// called.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger) (_ *Server, err error) {
	s := &Server{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			s.closeAll()
		}
	}()
	if s.inherited, err = handoff.FromEnv(); err != nil {
		return nil, err
	}
	// Sockets the new configuration has no listener for are closed once
	// the listeners are open (the previous serve still owns them).
	defer s.inherited.Close()
	sec, err := readSecrets(cfg)
	if err != nil {
		return nil, err
	}
	if s.store, err = openStore(ctx, cfg); err != nil {
		return nil, err
	}
	reg := newRegistry()
	if s.router, err = newRouter(cfg, s.store, sec.preview, log, reg); err != nil {
		return nil, err
	}
	if err := s.joinCluster(reg); err != nil {
		return nil, err
	}
	if s.runtime, err = newRuntime(cfg, log); err != nil {
		return nil, err
	}
	if s.synthetic, err = newSynthetic(cfg, s.router, log, reg); err != nil {
		return nil, err
	}
	if s.ctrl, err = s.newController(sec.preview, reg); err != nil {
		return nil, err
	}
	if err := s.restore(ctx); err != nil {
		return nil, err
	}
	if err := s.restoreSessions(ctx); err != nil {
		return nil, err
	}
	s.notifier = newNotifier(cfg, log, reg)
	s.series = web.NewSeries(newMeter(s.router), web.SeriesInterval, web.SeriesSize)
	if s.migrations, err = newMigrationWatch(cfg, reg, log); err != nil {
		return nil, err
	}
	admin, err := s.newAdmin(sec.admin, reg)
	if err != nil {
		return nil, err
	}
	if err := s.openListeners(ctx, s.clusterAdmin(admin), reg); err != nil {
		return nil, err
	}
	return s, nil
}

// newRegistry is the server's metrics registry, with the Go runtime's and
// the process's collectors.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Addrs returns the bound addresses (useful with port 0 in tests).
func (s *Server) Addrs() (production, preview, admin string) {
	production, admin = s.production.addr(), s.admin.addr()
	if s.preview != nil {
		preview = s.preview.addr()
	}
	return production, preview, admin
}

// Run serves until ctx is cancelled, then shuts down gracefully and stops
// the release's instances — or, when the handoff trigger fires (see
// EnableHandoff), hands the listeners and the instances to a new process
// and exits without stopping them.
func (s *Server) Run(ctx context.Context) error {
	defer s.closeAll()
	// Parts that must outlive the listeners' drain run on their own
	// context: the router and what feeds it (core), and the controller
	// with what it drives (control), which a handoff stops first.
	coreCtx, stopCore := context.WithCancel(context.WithoutCancel(ctx))
	defer stopCore()
	core, coreCtx := errgroup.WithContext(coreCtx)
	core.Go(func() error { return s.router.Run(coreCtx) })
	if k, ok := s.runtime.(kubeRuntime); ok {
		core.Go(func() error { return k.feedEndpoints(coreCtx, s.router) })
	}
	core.Go(func() error { return s.series.Run(coreCtx) })
	if s.inherited != nil && s.cfg.Routing.MCPSessions {
		core.Go(func() error { s.adoptHandedOverPins(coreCtx); return nil })
	}
	coreEnded := make(chan struct{})
	var coreErr error
	go func() { coreErr = core.Wait(); close(coreEnded) }()
	ctl := s.startControl(coreCtx)

	lns := s.listeners()
	serving, _ := errgroup.WithContext(ctx)
	for _, l := range lns {
		serving.Go(l.serve)
	}
	if a := s.production.acme; a != nil {
		go a.warm(ctx)
	}
	prod, prev, adm := s.Addrs()
	s.log.Info("serving", "app", s.cfg.App, "production", prod, "preview", prev, "admin", adm, "pid", os.Getpid())
	if s.inherited != nil {
		if err := s.inherited.Ready(); err != nil {
			s.log.Error("handoff", "error", err)
		}
	} else if err := handoff.Notify("READY=1"); err != nil {
		s.log.Warn("systemd", "error", err)
	}

	// Wait for a stop signal, a handoff or a part failing.
	var runErr error
	handedTo := 0
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case <-coreEnded:
			runErr = coreErr
		case runErr = <-ctl.done:
		case <-s.handoffTrigger:
			pid, err := s.handoff(ctl.stop)
			if err != nil {
				s.log.Error("handoff failed; this serve goes on", "error", err)
				ctl = s.startControl(coreCtx)
				continue
			}
			handedTo = pid
			s.log.Info("handoff: the new serve is ready; finishing in-flight requests here", "new_pid", pid)
			s.stopAccepting(lns)
			break wait
		}
		if runErr == nil {
			runErr = errors.New("a server part stopped unexpectedly")
		}
		break
	}

	s.shutdown(lns)
	if err := serving.Wait(); err != nil && runErr == nil {
		runErr = err
	}
	ctl.stop()
	stopCore()
	<-coreEnded
	for _, err := range []error{coreErr, ctl.err} {
		if err != nil && runErr == nil && !errors.Is(err, context.Canceled) {
			runErr = err
		}
	}
	if handedTo != 0 {
		// The instances run on under the new serve.
		s.log.Info("handed off", "new_pid", handedTo)
		return runErr
	}
	// Normal stop: the release's processes stop with the server.
	stopCtx, cancel := context.WithTimeout(context.Background(), s.cfg.Driver.Process.StopTimeout.D()+5*time.Second)
	defer cancel()
	if err := s.runtime.Close(stopCtx); err != nil && runErr == nil {
		runErr = fmt.Errorf("stop release instances: %w", err)
	}
	return runErr
}

// control is the running controller and what it drives (migrations
// watch, synthetic traffic, notifier): started by Run, stopped by a
// handoff before the new process takes over, started again if that fails.
type controlGroup struct {
	cancel  context.CancelFunc
	stopped atomic.Bool
	done    chan error // receives the group's result if it ends by itself
	ended   chan struct{}
	err     error // the group's result, once ended is closed
}

func (s *Server) startControl(parent context.Context) *controlGroup {
	ctx, cancel := context.WithCancel(parent)
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.runController(ctx) })
	if s.migrations != nil {
		g.Go(func() error { return s.migrations.run(ctx) })
	}
	if s.synthetic != nil {
		g.Go(func() error { return s.synthetic.Run(ctx) })
	}
	var unsubscribe func()
	if s.notifier != nil {
		evs, cancel := s.ctrl.Subscribe(256)
		unsubscribe = cancel
		evs = s.withAudits(ctx, evs)
		g.Go(func() error { return s.notifier.Run(ctx, evs, s.cfg.App) })
	}
	c := &controlGroup{cancel: cancel, done: make(chan error, 1), ended: make(chan struct{})}
	go func() {
		c.err = g.Wait()
		if unsubscribe != nil {
			unsubscribe()
		}
		close(c.ended)
		if !c.stopped.Load() {
			c.done <- c.err
		}
	}()
	return c
}

// stop ends the control group and waits for it; a second call does
// nothing more.
func (c *controlGroup) stop() {
	c.stopped.Store(true)
	c.cancel()
	<-c.ended
}

// shutdown stops accepting, lets in-flight requests finish up to the drain
// timeout, then cancels what is left with a cause.
func (s *Server) shutdown(lns []*listener) {
	drain := s.cfg.Routing.DrainTimeout.D()
	s.log.Info("stopping: draining in-flight requests", "drain_timeout", drain)
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, l := range lns {
			// Shutdown does not wait for hijacked conns (WebSockets); the
			// router's CancelAll below ends those.
			_ = l.srv.Shutdown(ctx)
			if l.fast != nil {
				_ = l.fast.Shutdown(ctx) // the connections net/http does not serve
			}
		}
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
	s.router.CancelAll(errors.New("bluegreen is shutting down: drain_timeout reached"))
	for _, l := range lns {
		_ = l.srv.Close()
		if l.fast != nil {
			l.fast.CloseConns()
		}
	}
	<-done
}

func (s *Server) listeners() []*listener {
	var lns []*listener
	for _, l := range []*listener{s.production, s.preview, s.admin, s.redirect} {
		if l != nil {
			lns = append(lns, l)
		}
	}
	return lns
}

func (s *Server) closeAll() {
	for _, l := range s.listeners() {
		_ = l.ln.Close()
		if l.fast != nil {
			l.fast.CloseConns()
		}
	}
	if s.store != nil {
		if err := s.store.Close(); err != nil {
			s.log.Error("close store", "err", err)
		}
		s.store = nil
	}
}
