package web

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bluegreen-dev/bluegreen/internal/api"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// maxBody bounds every request body the admin API reads.
const maxBody = 1 << 20

// Options configure the admin handler.
type Options struct {
	Backend Backend
	// Token is the admin bearer token; it must not be empty.
	Token string
	// Metrics serves /metrics; nil leaves it out.
	Metrics http.Handler
	// MetricsAuth requires the token for /metrics too.
	MetricsAuth bool
	// Series samples the router's per-slot counters for the dashboard's
	// charts (GET /api/v1/metrics/series); nil leaves the charts empty.
	// Its Run belongs to the caller.
	Series *Series
	// Migrations reports the schema migrations' state for the dashboard
	// (GET /api/v1/migrations); nil when none are configured.
	Migrations func(ctx context.Context) (api.MigrationsView, error)
	// MigrationEvents, when not nil, subscribes to migration events; the
	// event stream sends each as "event: migration" with its JSON.
	MigrationEvents func(buffer int) (events <-chan any, cancel func())
	// Registerer, when not nil, gets the admin API's own metrics (refused
	// credentials).
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// Store, when not nil, keeps the audit log and the dashboard sessions
	// (so they survive a restart, and are shared by every serve on the
	// same PostgreSQL); App names the app in it.
	Store store.Store
	App   string
	// OnAudit, when not nil, gets every audit entry once stored (the
	// webhooks); it must not block.
	OnAudit func(store.AuditEntry)
}

type handler struct {
	opts     Options
	log      *slog.Logger
	sessions *sessions
	fails    *failLimiter
}

// New returns the admin handler: API, events, dashboard and metrics.
func New(opts Options) (http.Handler, error) {
	if opts.Token == "" {
		return nil, errors.New("admin api: empty token; run `bluegreen init` or set admin_token_file")
	}
	if opts.Backend == nil {
		return nil, errors.New("admin api: no backend")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &handler{opts: opts, log: log, sessions: newSessions(nil), fails: newFailLimiter(nil, opts.Registerer)}
	h.sessions.persist(opts.Store, opts.App, log)
	mux := http.NewServeMux()
	api := func(pattern string, fn http.HandlerFunc) { mux.Handle(pattern, h.auth(fn)) }
	api("GET /api/v1/status", h.status)
	api("POST /api/v1/route", h.route)
	api("POST /api/v1/deployments", h.deploy)
	api("GET /api/v1/deployments", h.deployments)
	api("GET /api/v1/deployments/{id}", h.deployment)
	api("POST /api/v1/deployments/current/{action}", h.act)
	api("POST /api/v1/rollback", h.rollback)
	api("GET /api/v1/events", h.events)
	api("GET /api/v1/metrics/series", h.series)
	api("GET /api/v1/migrations", h.migrations)
	api("GET /api/v1/audit", h.auditList)
	mux.Handle("/api/", h.auth(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Errorf("no such endpoint: %s %s", r.Method, r.URL.Path))
	}))
	if opts.Metrics != nil {
		if opts.MetricsAuth {
			mux.Handle("GET /metrics", h.auth(opts.Metrics.ServeHTTP))
		} else {
			mux.Handle("GET /metrics", opts.Metrics)
		}
	}
	mux.HandleFunc("GET /{$}", h.dashboard)
	mux.HandleFunc("POST /login", h.login)
	mux.HandleFunc("POST /logout", h.logout)
	mux.HandleFunc("GET /assets/{name}", h.asset)
	return mux, nil
}

// auth lets a request through with either credential:
//   - "Authorization: Bearer <token>", compared in constant time (the CLI);
//   - the dashboard's session cookie; then every method but GET and HEAD
//     must also carry the session's CSRF token in X-CSRF-Token and come
//     from the same origin, or it gets 403.
func (h *handler) auth(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			if id, sess, ok := h.sessions.fromRequest(r); ok {
				if r.Method != http.MethodGet && r.Method != http.MethodHead {
					if !sameOrigin(r) {
						writeError(w, http.StatusForbidden, errors.New("cross-origin request refused: the dashboard only accepts requests from its own page"))
						return
					}
					if !validCSRF(r, sess, false) {
						writeError(w, http.StatusForbidden, fmt.Errorf("missing or wrong CSRF token: a request from a dashboard session must send the page's token in %s (reload the page)", csrfHeader))
						return
					}
				}
				r.Body = http.MaxBytesReader(w, r.Body, maxBody)
				h.audited(w, r, sessionActor(id), next)
				return
			}
		}
		authz := r.Header.Get("Authorization")
		if authz != "" {
			if ok, retry := h.fails.allow(clientAddr(r)); !ok {
				retryAfter(w, retry)
				writeError(w, http.StatusTooManyRequests, fmt.Errorf("too many wrong admin tokens from %s: try again in %s", clientAddr(r), retry.Round(time.Second)))
				return
			}
		}
		if !h.bearerOK(authz) {
			if authz != "" {
				h.fails.failed(clientAddr(r))
				h.log.Warn("admin api: wrong admin token", "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path)
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="bluegreen"`)
			writeError(w, http.StatusUnauthorized, errors.New("missing or wrong admin token: send Authorization: Bearer <token from admin_token_file>"))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		h.audited(w, r, "token", next)
	})
}

// bearerOK reports whether an Authorization header value carries the
// admin token: the scheme "Bearer" in any case (RFC 9110 §11.1), one or
// more spaces, then the token.
func (h *handler) bearerOK(header string) bool {
	scheme, token, ok := strings.Cut(header, " ")
	return ok && strings.EqualFold(scheme, "Bearer") && h.tokenOK(strings.TrimLeft(token, " "))
}

// tokenOK reports whether s is the admin token, compared in constant time.
func (h *handler) tokenOK(s string) bool {
	return subtle.ConstantTimeCompare([]byte(s), []byte(h.opts.Token)) == 1
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client may be gone; nothing else to do
}

// writeCompactJSON is writeJSON without indentation, for long answers
// (the metrics series) where the bytes count.
func writeCompactJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // the client may be gone; nothing else to do
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, api.Error{Error: err.Error()})
}

// statusOf maps an error from the backend to an HTTP status by its sentinel.
func statusOf(err error) int {
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, store.ErrActiveDeployment), errors.Is(err, store.ErrConflict), errors.Is(err, ErrConflict):
		return http.StatusConflict
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, store.ErrFenced):
		// This instance lost the controller lease under the command: the
		// lease is changing hands, a retry reaches the new leader.
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := statusOf(err)
	if code == http.StatusInternalServerError {
		h.log.Error("admin api", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeError(w, code, err)
}

// decode reads a JSON body strictly: one object, no unknown fields, and
// nothing after it but white space.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("unexpected data after the JSON object; send exactly one object")
			if terr != nil && !isSyntax(terr) {
				err = terr
			}
		}
	}
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return err
		}
		return fmt.Errorf("%w: invalid JSON body: %v", ErrBadRequest, err)
	}
	return nil
}

// isSyntax reports whether err is a JSON syntax error.
func isSyntax(err error) bool {
	var se *json.SyntaxError
	return errors.As(err, &se)
}
