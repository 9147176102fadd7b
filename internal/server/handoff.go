package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/handoff"
)

// The handoff of a running serve to a new binary (docs/operations.md):
// on the trigger (SIGUSR2 in `bluegreen serve`) this process stops its
// controller, detaches the driver (release processes keep running), and
// starts the new binary with the listening sockets; once that one serves,
// this one stops accepting, answers what its connections still send with
// `Connection: close`, finishes in-flight requests and exits without
// stopping the release. If the new binary fails, this one takes the
// driver back and goes on as before.
const (
	// handoffReadyTimeout bounds how long the new process may take to
	// open the state, adopt the instances and serve.
	handoffReadyTimeout = 2 * time.Minute
	// handoffGrace is how long a connection that keeps sending requests
	// is answered (each with Connection: close) before the listeners'
	// normal shutdown closes what is idle.
	handoffGrace = 5 * time.Second
)

// EnableHandoff makes Run hand off to a new process each time trigger
// fires: the binary at exe (the path this one was started from, so that a
// binary replaced there is the one started) run with args.
func (s *Server) EnableHandoff(trigger <-chan os.Signal, exe string, args []string) {
	s.handoffTrigger, s.handoffExe, s.handoffArgs = trigger, exe, args
}

// detacher is a runtime whose instances can pass to another process
// (the process driver); the others hold nothing exclusive.
type detacher interface {
	Detach() error
	Reattach() error
}

// inheritedListener is the listening socket name passed by the serve
// this one replaces, when there is one for addr.
func (s *Server) inheritedListener(name, addr string) (net.Listener, error) {
	ln, ok, err := s.inherited.Listener(name)
	if err != nil || !ok {
		return nil, err
	}
	if !sameListenAddr(addr, ln.Addr()) {
		s.log.Warn("the configured address changed since the handoff; binding it anew",
			"listener", name, "inherited", ln.Addr().String(), "configured", addr)
		_ = ln.Close() // the old process still owns the socket
		return nil, nil
	}
	s.log.Info("listening on the socket handed over by the previous serve", "listener", name, "addr", ln.Addr().String())
	return ln, nil
}

// sameListenAddr reports whether a bound address is what addr asks for:
// the same port, and the same host unless addr leaves it open.
func sameListenAddr(addr string, bound net.Addr) bool {
	host, port, err := net.SplitHostPort(addr)
	tcp, ok := bound.(*net.TCPAddr)
	if err != nil || !ok {
		return false
	}
	if port != "0" && port != fmt.Sprint(tcp.Port) {
		return false
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		return true
	}
	ips, err := net.DefaultResolver.LookupIPAddr(context.Background(), host)
	if err != nil {
		return false
	}
	for _, ip := range ips {
		if ip.IP.Equal(tcp.IP) {
			return true
		}
	}
	return false
}

// closeOnHandoff answers with Connection: close once this process has
// handed off, so that clients move to the new process at their next
// request instead of having an idle connection closed under them.
func (s *Server) closeOnHandoff(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.handedOff.Load() {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

// handoff starts the new process and waits until it serves; stopControl
// ends the controller and what drives it first. It returns the new
// process's pid, or an error after which this process has taken its
// driver back (the caller starts the controller again).
func (s *Server) handoff(stopControl func()) (int, error) {
	exe := s.handoffExe
	socks := make(map[string]syscall.Conn)
	for _, l := range s.listeners() {
		sc, ok := l.raw.(syscall.Conn)
		if !ok {
			return 0, fmt.Errorf("%s listener is not a socket", l.name)
		}
		socks[l.name] = sc
	}
	s.log.Info("handoff: starting the new serve", "binary", exe)
	if err := handoff.Notify("RELOADING=1"); err != nil {
		s.log.Warn("handoff", "error", err)
	}
	stopControl()
	det, _ := s.runtime.(detacher)
	if det != nil {
		if err := det.Detach(); err != nil {
			return 0, s.resume(det, err)
		}
	}
	child, err := handoff.Start(exe, s.handoffArgs, os.Environ(), socks)
	if err != nil {
		return 0, s.resume(det, err)
	}
	ctx, cancel := context.WithTimeoutCause(context.Background(), handoffReadyTimeout,
		fmt.Errorf("no answer within %s", handoffReadyTimeout))
	defer cancel()
	if err := child.WaitReady(ctx); err != nil {
		return 0, s.resume(det, fmt.Errorf("the new serve (pid %d): %w", child.Pid(), err))
	}
	s.handedOff.Store(true)
	return child.Pid(), nil
}

// resume takes the driver back after a failed handoff; why is the
// failure, returned with what resuming added to it.
func (s *Server) resume(det detacher, why error) error {
	if err := handoff.Notify("READY=1"); err != nil {
		s.log.Warn("handoff", "error", err)
	}
	if det == nil {
		return why
	}
	if err := det.Reattach(); err != nil {
		return errors.Join(why, fmt.Errorf("and taking the instances back failed: %w", err))
	}
	return why
}

// stopAccepting closes this process's copy of every listening socket (the
// new process keeps accepting on its own) and waits, up to handoffGrace,
// for the client connections to leave on their own.
func (s *Server) stopAccepting(lns []*listener) {
	for _, l := range lns {
		l.handedOff.Store(true)
		_ = l.ln.Close()
	}
	deadline := time.Now().Add(handoffGrace)
	for time.Now().Before(deadline) {
		open := 0
		for _, l := range lns {
			if cl, ok := l.ln.(*connLimit); ok {
				open += cl.openCount()
			}
		}
		if open == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// openCount is how many client connections the listener has open.
func (l *connLimit) openCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// adoptHandedOverPins reads the MCP session pins again once the previous
// serve has exited (its last write of them is in the store by then) and
// adopts those this process does not know: sessions opened on the old
// process while this one started go on where they are.
func (s *Server) adoptHandedOverPins(ctx context.Context) {
	select {
	case <-ctx.Done():
		return
	case <-s.inherited.ParentDone():
	}
	stored, err := s.store.LoadMCPSessions(ctx, s.cfg.App)
	if err != nil {
		s.log.Error("handoff: read the previous serve's MCP session pins", "error", err)
		return
	}
	n := s.router.AdoptSessions(routerPins(stored))
	s.log.Info("handoff: the previous serve has exited", "mcp_pins_adopted", n)
}
