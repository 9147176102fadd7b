package server

import (
	"context"

	"github.com/bluegreen-dev/bluegreen/internal/api"
	"github.com/bluegreen-dev/bluegreen/internal/schemagate"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// gateFacts are the schema gates' facts as serve knows them: the slots of
// the controller's status and the deployment history in the store.
type gateFacts struct{ s *Server }

var _ schemagate.Facts = gateFacts{}

func (f gateFacts) Slots(ctx context.Context) ([]api.SlotStatus, error) {
	st, err := f.s.ctrl.Status(ctx)
	if err != nil {
		return nil, err
	}
	return st.Slots, nil
}

func (f gateFacts) Deployments(ctx context.Context, limit int) ([]store.Deployment, error) {
	return f.s.store.ListDeployments(ctx, f.s.cfg.App, limit)
}

func (f gateFacts) Events(ctx context.Context, id int64) ([]store.Event, error) {
	return f.s.store.Events(ctx, id)
}
