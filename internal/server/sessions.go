package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/router"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// sessionStore keeps the router's MCP session pins in the state store,
// for one app: the router writes them behind its request path.
type sessionStore struct {
	store store.Store
	app   string
}

var _ router.SessionStore = sessionStore{}

func (s sessionStore) SaveSessionPins(ctx context.Context, pins []router.SessionPin) error {
	out := make([]store.MCPSession, len(pins))
	for i, p := range pins {
		out[i] = store.MCPSession{ID: p.ID, Slot: p.Slot, Instance: p.Instance, LastUsed: p.LastUsed}
	}
	return s.store.SaveMCPSessions(ctx, s.app, out)
}

func (s sessionStore) DeleteSessionPins(ctx context.Context, ids []string) error {
	return s.store.DeleteMCPSessions(ctx, s.app, ids)
}

// restoreSessions loads the MCP session pins saved by the previous serve
// into the router, once the controller restored the pools and the route
// table (deploy.Controller.Restore) and before the listeners open: a pinned session goes on on its instance. A
// pin whose instance is gone goes to its slot if the slot has instances
// (see router.RestoreSessions); the others are dropped.
func (s *Server) restoreSessions(ctx context.Context) error {
	if !s.cfg.Routing.MCPSessions {
		return nil
	}
	stored, err := s.store.LoadMCPSessions(ctx, s.cfg.App)
	if err != nil {
		return fmt.Errorf("load mcp sessions: %w", err)
	}
	// The session drain of a slot without traffic counts from when the
	// route in force was set.
	var since time.Time
	switch r, err := s.store.LoadRoute(ctx, s.cfg.App); {
	case err == nil:
		since = r.UpdatedAt
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("load route table: %w", err)
	}
	s.router.RestoreSessions(routerPins(stored), since)
	return nil
}

// routerPins are the store's MCP session pins as the router takes them.
func routerPins(stored []store.MCPSession) []router.SessionPin {
	pins := make([]router.SessionPin, len(stored))
	for i, p := range stored {
		pins[i] = router.SessionPin{ID: p.ID, Slot: p.Slot, Instance: p.Instance, LastUsed: p.LastUsed}
	}
	return pins
}
