package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/bluegreen-dev/bluegreen/internal/api"
	"github.com/bluegreen-dev/bluegreen/internal/cluster"
	"github.com/bluegreen-dev/bluegreen/internal/deploy"
	"github.com/bluegreen-dev/bluegreen/internal/store"
	"github.com/bluegreen-dev/bluegreen/internal/store/postgres"
)

// With state in PostgreSQL, serve is one node of a cluster (package
// cluster): every node routes and serves the admin API; the one holding
// the controller lease runs the controller, through a store whose writes
// carry the lease's fencing token. One serve on PostgreSQL is a cluster
// of one.

// forwardedHeader marks an admin command forwarded to the leader; a node
// that gets one and does not lead refuses it rather than forward again.
const forwardedHeader = "X-Bluegreen-Forwarded-By"

// joinCluster makes serve a cluster node when the state is in PostgreSQL:
// the controller's store becomes the fenced one. Call it after the router
// is built and before the controller is.
func (s *Server) joinCluster(reg prometheus.Registerer) error {
	pg, ok := s.store.(*postgres.Store)
	if !ok {
		return nil
	}
	stale, err := trustPastExpiry(os.Getenv(staleLeaderEnv), s.log)
	if err != nil {
		return fmt.Errorf("join the cluster: %w", err)
	}
	fence := &postgres.Fence{TrustPastExpiry: stale}
	node, err := cluster.New(cluster.Options{
		App:             s.cfg.App,
		Store:           pg,
		Fence:           fence,
		Router:          routerAdapter{s.router},
		Counts:          s.clusterCounts,
		TrustPastExpiry: stale,
		Logger:          s.log,
		Registry:        reg,
	})
	if err != nil {
		return fmt.Errorf("join the cluster: %w", err)
	}
	s.cluster, s.forwardRT = node, newForwardTransport()
	s.store = pg.Fenced(fence)
	return nil
}

// restore rebuilds the world before the listeners open. Alone, the
// controller does it; in a cluster the node applies the stored route and
// backends, and the controller restores when it takes the lease.
func (s *Server) restore(ctx context.Context) error {
	if s.cluster == nil {
		return s.ctrl.Restore(ctx)
	}
	if err := s.cluster.Sync(ctx); err != nil {
		return fmt.Errorf("read the shared state: %w", err)
	}
	return nil
}

// runController runs the controller until ctx ends: at once when alone,
// while this node holds the lease in a cluster (restoring the world first
// at each term: the last leader may have left it anywhere).
func (s *Server) runController(ctx context.Context) error {
	if s.cluster == nil {
		return s.ctrl.Run(ctx)
	}
	s.cluster.Advertise(advertised(s.admin.addr()), advertised(s.production.addr()))
	g, ctx := errgroup.WithContext(ctx)
	if s.cfg.Routing.MCPSessions {
		g.Go(func() error { s.adoptPins(ctx); return nil })
	}
	g.Go(func() error {
		return s.cluster.Run(ctx, func(ctx context.Context) error {
			if err := s.ctrl.Restore(ctx); err != nil {
				return err
			}
			return s.ctrl.Run(ctx)
		})
	})
	return g.Wait()
}

// Shared MCP session pins: every router writes its pins to the shared
// table behind its request path (within a second); every router reads the
// pins used lately every pinSyncInterval and adopts those it does not
// know, so a session pinned by router A is honoured by router B.
const (
	pinSyncInterval = time.Second
	// pinSyncOverlap re-reads a little of the last window: a pin written
	// late (another router's write-behind) is not missed.
	pinSyncOverlap = 3 * time.Second
	pinSyncBatch   = 5000
)

// recentPins is the store's read of the pins used lately.
type recentPins interface {
	LoadMCPSessionsSince(ctx context.Context, app string, since time.Time, limit int) ([]store.MCPSession, error)
}

// adoptPins reads the shared pin table every pinSyncInterval until ctx
// ends and gives the router the pins it does not know.
func (s *Server) adoptPins(ctx context.Context) {
	src, ok := s.store.(recentPins)
	if !ok {
		return
	}
	t := time.NewTicker(pinSyncInterval)
	defer t.Stop()
	var since time.Time // the first read takes every pin still fresh
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		pins, err := src.LoadMCPSessionsSince(ctx, s.cfg.App, since, pinSyncBatch)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Debug("read the shared mcp session pins", "error", err)
			}
			continue
		}
		s.router.AdoptSessions(routerPins(pins))
		since = start.Add(-pinSyncOverlap)
	}
}

// advertised is addr as other machines reach it: an unspecified host
// (0.0.0.0, ::) becomes this machine's hostname.
func advertised(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		if h, err := os.Hostname(); err == nil && h != "" {
			return net.JoinHostPort(h, port)
		}
	}
	return addr
}

// clusterStatus adds the cluster's view to status (nothing when alone).
func (s *Server) clusterStatus(out *api.Status) {
	if s.cluster == nil {
		return
	}
	st := s.cluster.Status()
	out.Cluster = &st
}

// clusterCounts is this router's cumulative per-slot counts, as JSON, for
// the heartbeat (nil without analysis).
func (s *Server) clusterCounts() []byte {
	if !s.cfg.AnalysisConfigured() || s.router == nil {
		return nil
	}
	return cluster.EncodeCounts(newAnalysisMeter(s.router, s.cfg.Analysis.Filters()))
}

// clusterMeter is the controller's meter: in a cluster, the sum of every
// router's counts (the leader judges all traffic); alone, local.
func (s *Server) clusterMeter(local deploy.Meter) deploy.Meter {
	if s.cluster == nil {
		return local
	}
	return s.cluster.Meter(local)
}

// clusterAdmin wraps the admin handler: GET /healthz tells whether this
// node reaches the state store, and in a cluster a command (any API call
// but GET) sent to a node that does not lead is forwarded to the leader.
func (s *Server) clusterAdmin(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			s.healthz(w)
			return
		}
		if s.cluster == nil || s.cluster.Leader() || !strings.HasPrefix(r.URL.Path, "/api/") ||
			r.Method == http.MethodGet || r.Method == http.MethodHead {
			h.ServeHTTP(w, r)
			return
		}
		s.forward(w, r)
	})
}

// healthz answers 200 whether or not the state store answers: a degraded
// router still serves with the last route it knew, and a load balancer
// must not take every router out while the database restarts. The body
// says which.
func (s *Server) healthz(w http.ResponseWriter) {
	body := map[string]any{"status": "ok", "state_connected": true}
	if s.cluster != nil {
		body["instance"], body["leader"] = s.cluster.ID(), s.cluster.Leader()
		if s.cluster.Degraded() {
			body["status"], body["state_connected"] = "degraded", false
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(body)
}

// forward sends a command to the leader's admin listener and relays its
// answer; with no leader known it answers 503 (retry).
func (s *Server) forward(w http.ResponseWriter, r *http.Request) {
	fail := func(msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "2")
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
	}
	if by := r.Header.Get(forwardedHeader); by != "" {
		fail(fmt.Sprintf("instance %s forwarded this command here, but %s does not lead either (the lease is being handed over); retry in a few seconds", by, s.cluster.ID()))
		return
	}
	target := s.cluster.LeaderAdmin()
	if target == "" {
		fail("no instance leads right now (the controller lease is being handed over); retry in a few seconds")
		return
	}
	scheme := "http"
	if s.cfg.AdminListenTLS.On() {
		scheme = "https"
	}
	p := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = scheme, target
			pr.Out.Host = target
			pr.Out.Header.Set(forwardedHeader, s.cluster.ID())
		},
		Transport: s.forwardRT,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.log.Warn("forward a command to the leader failed", "leader", target, "path", r.URL.Path, "error", err)
			fail(fmt.Sprintf("the leader at %s did not answer (%v); retry in a few seconds", target, err))
		},
	}
	p.ServeHTTP(w, r)
}

// newForwardTransport carries commands to the leader; its certificate is
// checked against the system's roots.
func newForwardTransport() http.RoundTripper {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   5 * time.Second,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       time.Minute,
		ResponseHeaderTimeout: 2 * time.Minute, // promote and abort wait for the controller
	}
}
