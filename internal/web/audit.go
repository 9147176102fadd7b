package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bluegreen-dev/bluegreen/internal/api"
	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// The audit log: every admin action through the API or the dashboard
// (deploy, rollback, route, pause, resume, promote, abort, login, logout,
// failed login) is appended to the store with who, what, when, from where
// and how it ended, and handed to Options.OnAudit (the webhooks).
const (
	// maxAuditArgs bounds an entry's arguments; a longer body is kept as
	// its first bytes in {"truncated": "..."}.
	maxAuditArgs = 4 << 10
	// maxAuditResult bounds the error text kept as an entry's result.
	maxAuditResult = 1 << 10
	// auditTimeout bounds the write of one entry.
	auditTimeout = 5 * time.Second
	// maxAuditList is the most entries GET /api/v1/audit returns.
	maxAuditList = 1000
)

// sessionActor names a dashboard session in the audit log by a short hash
// of its id: enough to tell sessions apart, useless to take one over.
func sessionActor(id string) string {
	sum := sha256.Sum256([]byte(id))
	return "session:" + hex.EncodeToString(sum[:6])
}

// auditArgs is a request body as an entry's arguments: the JSON object as
// is when it fits, else its first bytes as a string.
func auditArgs(body []byte, extra map[string]string) json.RawMessage {
	body = bytes.TrimSpace(body)
	if len(extra) > 0 {
		var m map[string]any
		if len(body) == 0 || json.Unmarshal(body, &m) == nil {
			if m == nil {
				m = map[string]any{}
			}
			for k, v := range extra {
				m[k] = v
			}
			if b, err := json.Marshal(m); err == nil {
				body = b
			}
		}
	}
	if len(body) == 0 {
		return nil
	}
	if len(body) <= maxAuditArgs && json.Valid(body) && body[0] == '{' {
		var c bytes.Buffer
		if json.Compact(&c, body) == nil {
			return json.RawMessage(c.Bytes())
		}
	}
	cut := body[:min(len(body), maxAuditArgs)]
	for len(cut) > 0 && !utf8.Valid(cut) {
		cut = cut[:len(cut)-1]
	}
	b, _ := json.Marshal(map[string]string{"truncated": string(cut)})
	return b
}

// audit appends one entry; a failed write is logged, never shown to the
// client, and never stops the action (it already happened).
func (h *handler) audit(r *http.Request, actor, action string, args json.RawMessage, result string) {
	if len(result) > maxAuditResult {
		result = strings.ToValidUTF8(result[:maxAuditResult], "")
	}
	e := store.AuditEntry{App: h.opts.App, Actor: actor, Action: action, Args: args, Result: result, Remote: clientAddr(r)}
	if h.opts.Store != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), auditTimeout)
		defer cancel()
		if err := h.opts.Store.AppendAudit(ctx, &e); err != nil {
			h.log.Error("audit log: entry not stored", "action", action, "actor", actor, "err", err)
		}
	}
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	h.log.Info("admin action", "actor", actor, "action", action, "result", result, "remote", e.Remote)
	if h.opts.OnAudit != nil {
		h.opts.OnAudit(e)
	}
}

// auditAction names the admin action of a POST to the API, "" for none.
func auditAction(r *http.Request) string {
	switch p := r.URL.Path; {
	case p == "/api/v1/route":
		return "route"
	case p == "/api/v1/deployments":
		return "deploy"
	case p == "/api/v1/rollback":
		return "rollback"
	case strings.HasPrefix(p, "/api/v1/deployments/current/"):
		return strings.TrimPrefix(p, "/api/v1/deployments/current/")
	}
	return ""
}

// auditRecorder keeps the status and the first bytes of an answer, for
// the entry's result.
type auditRecorder struct {
	http.ResponseWriter
	code int
	body []byte
}

func (a *auditRecorder) WriteHeader(code int) {
	if a.code == 0 {
		a.code = code
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *auditRecorder) Write(b []byte) (int, error) {
	if a.code == 0 {
		a.code = http.StatusOK
	}
	if room := maxAuditResult + 64 - len(a.body); room > 0 {
		a.body = append(a.body, b[:min(len(b), room)]...)
	}
	return a.ResponseWriter.Write(b)
}

func (a *auditRecorder) Flush() {
	if f, ok := a.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// result is "ok" for a 2xx or 3xx answer, else the API's error message.
func (a *auditRecorder) result() string {
	if a.code < 400 {
		return "ok"
	}
	var e api.Error
	if json.Unmarshal(a.body, &e) == nil && e.Error != "" {
		return e.Error
	}
	return http.StatusText(a.code)
}

// audited runs next for an authenticated request and, when it is an
// admin action, appends its entry.
func (h *handler) audited(w http.ResponseWriter, r *http.Request, actor string, next http.HandlerFunc) {
	action := ""
	if r.Method == http.MethodPost {
		action = auditAction(r)
	}
	if action == "" {
		next(w, r)
		return
	}
	body := &teeBody{ReadCloser: r.Body}
	r.Body = body
	rec := &auditRecorder{ResponseWriter: w}
	next(rec, r)
	h.audit(r, actor, action, auditArgs(body.buf.Bytes(), nil), rec.result())
}

// teeBody keeps the first bytes read from a request body.
type teeBody struct {
	io.ReadCloser
	buf bytes.Buffer
}

func (t *teeBody) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if room := maxAuditArgs + 1 - t.buf.Len(); room > 0 {
		t.buf.Write(p[:min(n, room)])
	}
	return n, err
}

// auditList is GET /api/v1/audit?limit=N: the newest entries first.
func (h *handler) auditList(w http.ResponseWriter, r *http.Request) {
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxAuditList {
			writeError(w, http.StatusBadRequest, fmt.Errorf("limit %q: want a number from 1 to %d", v, maxAuditList))
			return
		}
		limit = n
	}
	out := api.AuditList{Entries: []api.Audit{}}
	if h.opts.Store != nil {
		es, err := h.opts.Store.ListAudit(r.Context(), h.opts.App, limit)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		for _, e := range es {
			out.Entries = append(out.Entries, api.Audit{ID: e.ID, Time: e.Time, Actor: e.Actor, Action: e.Action, Args: e.Args, Result: e.Result, Remote: e.Remote})
		}
	}
	writeJSON(w, http.StatusOK, out)
}
