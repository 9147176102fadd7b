package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"time"
)

// The dashboard: one page, its stylesheet and script, all embedded. The
// page carries no data and never the admin token: it loads the status
// from the API and follows the event stream, with the session cookie.
//
//go:embed dashboard.html login.html assets
var dashboardFS embed.FS

var pages = template.Must(template.ParseFS(dashboardFS, "dashboard.html", "login.html"))

// asset is one embedded file with its content hash, for caching.
type asset struct {
	data  []byte
	etag  string
	ctype string
}

// assets are the files under assets/, by name.
var assets = func() map[string]asset {
	out := map[string]asset{}
	types := map[string]string{".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
	entries, err := fs.ReadDir(dashboardFS, "assets")
	if err != nil {
		panic(err) // embedded: cannot happen
	}
	for _, e := range entries {
		data, err := fs.ReadFile(dashboardFS, "assets/"+e.Name())
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(data)
		out[e.Name()] = asset{data: data, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, ctype: types[path.Ext(e.Name())]}
	}
	return out
}()

// pageCSP allows only this origin: no inline script or style, no other
// host, no framing.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// pageData fills the templates.
type pageData struct {
	CSRF    string // the session's CSRF token (dashboard only)
	Error   string // why the login failed (login only)
	Version map[string]string
}

func assetVersions() map[string]string {
	v := make(map[string]string, len(assets))
	for name, a := range assets {
		v[name] = a.etag[1:9]
	}
	return v
}

func (h *handler) render(w http.ResponseWriter, code int, name string, data pageData) {
	data.Version = assetVersions()
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		h.log.Error("render page", "page", name, "err", err)
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Security-Policy", pageCSP)
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	// same-origin, not no-referrer: with no-referrer browsers send
	// "Origin: null" on the login form, which sameOrigin refuses.
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// dashboard serves the page to a logged-in browser, the login form to
// any other.
func (h *handler) dashboard(w http.ResponseWriter, r *http.Request) {
	_, sess, ok := h.sessions.fromRequest(r)
	if !ok {
		h.render(w, http.StatusOK, "login.html", pageData{})
		return
	}
	h.render(w, http.StatusOK, "dashboard.html", pageData{CSRF: sess.csrf})
}

// login checks the posted admin token and starts a session. The token
// travels once, in the POST body; the browser keeps only the cookie.
func (h *handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if !sameOrigin(r) {
		h.log.Warn("dashboard login refused: cross-origin", "origin", r.Header.Get("Origin"), "host", r.Host, "remote", r.RemoteAddr)
		h.render(w, http.StatusForbidden, "login.html", pageData{Error: "Cross-origin login refused."})
		return
	}
	addr := clientAddr(r)
	if ok, retry := h.fails.allow(addr); !ok {
		h.log.Warn("dashboard login refused: too many wrong tokens from this address", "remote", r.RemoteAddr, "retry_after", retry.Round(time.Second))
		retryAfter(w, retry)
		h.render(w, http.StatusTooManyRequests, "login.html", pageData{Error: fmt.Sprintf("Too many wrong tokens from %s. Try again in %s.", addr, retry.Round(time.Second))})
		return
	}
	if !h.tokenOK(r.PostFormValue("token")) {
		h.fails.failed(addr)
		h.log.Warn("dashboard login refused: wrong admin token", "remote", r.RemoteAddr)
		h.audit(r, "anonymous", "login", nil, "wrong admin token")
		h.render(w, http.StatusUnauthorized, "login.html", pageData{Error: "Wrong admin token. Paste the content of admin_token_file (.bluegreen/admin.token)."})
		return
	}
	id, _ := h.sessions.create()
	setSessionCookie(w, r, id, int(sessionTTL/time.Second))
	h.audit(r, sessionActor(id), "login", nil, "ok")
	h.log.Info("dashboard login", "remote", r.RemoteAddr)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// logout ends the session; the form sends the CSRF token as a field.
func (h *handler) logout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	id, sess, ok := h.sessions.fromRequest(r)
	if ok {
		if !sameOrigin(r) || !validCSRF(r, sess, true) {
			writeError(w, http.StatusForbidden, errors.New("missing or wrong CSRF token: log out from the dashboard page"))
			return
		}
		h.sessions.end(id)
		h.audit(r, sessionActor(id), "logout", nil, "ok")
	}
	setSessionCookie(w, r, "", -1)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// asset serves an embedded stylesheet or script; ETag revalidation.
func (h *handler) asset(w http.ResponseWriter, r *http.Request) {
	a, ok := assets[r.PathValue("name")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", a.ctype)
	hd.Set("ETag", a.etag)
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Content-Type-Options", "nosniff")
	if r.Header.Get("If-None-Match") == a.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	_, _ = w.Write(a.data)
}
