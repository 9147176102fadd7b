package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/bluegreen-dev/bluegreen/internal/api"
)

func (h *handler) status(w http.ResponseWriter, r *http.Request) {
	st, err := h.opts.Backend.Status(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (h *handler) route(w http.ResponseWriter, r *http.Request) {
	var req api.RouteRequest
	if err := decode(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	if req.Live == "" && len(req.Weights) == 0 {
		h.fail(w, r, fmt.Errorf("%w: give live or weights, such as {\"live\":\"green\"} or {\"weights\":{\"green\":30}}", ErrBadRequest))
		return
	}
	res, err := h.opts.Backend.SetRoute(r.Context(), req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (h *handler) deploy(w http.ResponseWriter, r *http.Request) {
	var req api.DeployRequest
	if err := decode(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	if req.Version == "" {
		h.fail(w, r, fmt.Errorf("%w: version is required, such as {\"version\":\"v2\"}", ErrBadRequest))
		return
	}
	d, err := h.opts.Backend.Deploy(r.Context(), req.Version, req.Strategy)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, d)
}

func (h *handler) deployments(w http.ResponseWriter, r *http.Request) {
	limit := 50
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			h.fail(w, r, fmt.Errorf("%w: limit must be a number from 1 to 1000, got %q", ErrBadRequest, s))
			return
		}
		limit = n
	}
	ds, err := h.opts.Backend.Deployments(r.Context(), limit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ds)
}

func (h *handler) deployment(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		h.fail(w, r, fmt.Errorf("%w: deployment id must be a number, got %q", ErrBadRequest, r.PathValue("id")))
		return
	}
	d, evs, err := h.opts.Backend.Deployment(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.DeploymentView{Deployment: d, Events: evs})
}

func (h *handler) act(w http.ResponseWriter, r *http.Request) {
	action := r.PathValue("action")
	switch action {
	case "promote", "pause", "resume", "abort":
	default:
		h.fail(w, r, fmt.Errorf("%w: unknown action %q: use promote, pause, resume or abort", ErrBadRequest, action))
		return
	}
	if err := h.opts.Backend.Act(r.Context(), action); err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.ActionResult{Result: action + " accepted"})
}

func (h *handler) rollback(w http.ResponseWriter, r *http.Request) {
	d, err := h.opts.Backend.Rollback(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, d)
}

// migrations is GET /api/v1/migrations: the schema migrations' state, for
// the dashboard; 404 when the server has no migrations configured.
func (h *handler) migrations(w http.ResponseWriter, r *http.Request) {
	if h.opts.Migrations == nil {
		writeError(w, http.StatusNotFound, errors.New("no migrations configured: set migrations.dir and migrations.database_url"))
		return
	}
	v, err := h.opts.Migrations(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}
