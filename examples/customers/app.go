package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
)

// app is the HTTP side of one generation.
type app struct {
	cfg   config
	store *store
	log   *slog.Logger
}

func (a *app) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", a.health)
	mux.HandleFunc("GET /{$}", a.index)
	mux.HandleFunc("GET /customers", a.list)
	mux.HandleFunc("POST /customers", a.create)
	mux.HandleFunc("GET /customers/{id}", a.get)
	mux.HandleFunc("PUT /customers/{id}", a.update)
	return mux
}

// health is healthy while the database answers. schema_ready says
// whether the table has this generation's columns: a v2 started before its
// migration is expanded is healthy but not schema_ready, and bluegreen's
// schema gate (releases.v2.requires) is what keeps traffic from it.
func (a *app) health(w http.ResponseWriter, r *http.Request) {
	if err := a.store.db.PingContext(r.Context()); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unhealthy", "error": err.Error(), "schema": a.cfg.schema})
		return
	}
	body := map[string]any{"status": "healthy", "version": a.cfg.version, "schema": a.cfg.schema, "schema_ready": true}
	if err := a.store.ready(r.Context()); err != nil {
		body["schema_ready"], body["schema_error"] = false, err.Error()
	}
	writeJSON(w, http.StatusOK, body)
}

func (a *app) index(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"version": a.cfg.version, "slot": a.cfg.slot, "schema": a.cfg.schema})
}

func (a *app) list(w http.ResponseWriter, r *http.Request) {
	cs, err := a.store.list(r.Context())
	if err != nil {
		a.fail(w, err)
		return
	}
	out := make([]map[string]any, 0, len(cs))
	for _, c := range cs {
		out = append(out, a.view(c))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *app) get(w http.ResponseWriter, r *http.Request) {
	id, ok := a.id(w, r)
	if !ok {
		return
	}
	c, err := a.store.get(r.Context(), id)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, a.view(c))
}

func (a *app) create(w http.ResponseWriter, r *http.Request) {
	c, ok := a.decode(w, r)
	if !ok {
		return
	}
	c, err := a.store.create(r.Context(), c)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, a.view(c))
}

func (a *app) update(w http.ResponseWriter, r *http.Request) {
	id, ok := a.id(w, r)
	if !ok {
		return
	}
	c, ok := a.decode(w, r)
	if !ok {
		return
	}
	c, err := a.store.update(r.Context(), id, c)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, a.view(c))
}

// body is a request in either shape; decode keeps the fields of this
// generation and refuses the other's.
type body struct {
	Name          string  `json:"name"`
	Address       *string `json:"address"`
	StreetAddress *string `json:"street_address"`
	City          *string `json:"city"`
	State         *string `json:"state"`
	ZipCode       *string `json:"zip_code"`
}

func (a *app) decode(w http.ResponseWriter, r *http.Request) (customer, bool) {
	var b body
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("read JSON body: %w", err))
		return customer{}, false
	}
	c := customer{Name: b.Name}
	if a.store.gen == genV1 {
		if b.Address == nil || b.StreetAddress != nil || b.City != nil || b.State != nil || b.ZipCode != nil {
			writeError(w, http.StatusBadRequest, errors.New(`schema v1 takes {"name", "address"}`))
			return customer{}, false
		}
		c.Address = *b.Address
		return c, true
	}
	if b.Address != nil || b.StreetAddress == nil || b.City == nil || b.State == nil || b.ZipCode == nil {
		writeError(w, http.StatusBadRequest, errors.New(`schema v2 takes {"name", "street_address", "city", "state", "zip_code"}`))
		return customer{}, false
	}
	c.Street, c.City, c.State, c.Zip = *b.StreetAddress, *b.City, *b.State, *b.ZipCode
	return c, true
}

// view is c in this generation's JSON shape.
func (a *app) view(c customer) map[string]any {
	if a.store.gen == genV1 {
		return map[string]any{"id": c.ID, "name": c.Name, "address": c.Address}
	}
	return map[string]any{"id": c.ID, "name": c.Name, "street_address": c.Street, "city": c.City, "state": c.State, "zip_code": c.Zip}
}

func (a *app) id(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		writeError(w, http.StatusBadRequest, fmt.Errorf("customer id must be a positive number, got %q", r.PathValue("id")))
		return 0, false
	}
	return id, true
}

func (a *app) fail(w http.ResponseWriter, err error) {
	if errors.Is(err, errNotFound) {
		writeError(w, http.StatusNotFound, err)
		return
	}
	a.log.Error("request failed", "error", err)
	writeError(w, http.StatusInternalServerError, err)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": strings.TrimSpace(err.Error())})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // the client went away: nothing to do
}
