package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"sync"
	"time"
)

// Dashboard sessions: the login form posts the admin token once; the
// browser then holds only a random session id in an HttpOnly cookie, and
// every unsafe request from a session must carry that session's CSRF
// token in a header. Sessions live in memory: a restart of serve logs
// everyone out.
const (
	sessionCookie = "bluegreen_session"
	// csrfHeader carries the session's CSRF token on every POST.
	csrfHeader = "X-CSRF-Token"
	// sessionTTL is how long a login lasts, from the login.
	sessionTTL = 12 * time.Hour
	// maxSessions bounds the table; the oldest login goes first.
	maxSessions = 1000
)

// session is one logged-in browser.
type session struct {
	csrf    string
	created time.Time
	expires time.Time
}

// sessions is the in-memory session table, keyed by the SHA-256 of the
// session id so a lookup's timing says nothing about stored ids.
type sessions struct {
	mu  sync.Mutex
	m   map[[32]byte]session
	now func() time.Time
}

func newSessions(now func() time.Time) *sessions {
	if now == nil {
		now = time.Now
	}
	return &sessions{m: map[[32]byte]session{}, now: now}
}

// randomToken returns 32 random bytes in hex.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b)
}

// create starts a session and returns its id (the cookie's value).
func (s *sessions) create() (string, session) {
	id := randomToken()
	now := s.now()
	sess := session{csrf: randomToken(), created: now, expires: now.Add(sessionTTL)}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.m {
		if !now.Before(v.expires) {
			delete(s.m, k)
		}
	}
	for len(s.m) >= maxSessions {
		var oldest [32]byte
		var at time.Time
		for k, v := range s.m {
			if at.IsZero() || v.created.Before(at) {
				oldest, at = k, v.created
			}
		}
		delete(s.m, oldest)
	}
	s.m[sha256.Sum256([]byte(id))] = sess
	return id, sess
}

// get returns the live session with id.
func (s *sessions) get(id string) (session, bool) {
	if id == "" {
		return session{}, false
	}
	key := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.m[key]
	if !ok {
		return session{}, false
	}
	if !s.now().Before(sess.expires) {
		delete(s.m, key)
		return session{}, false
	}
	return sess, true
}

// end forgets the session with id.
func (s *sessions) end(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, sha256.Sum256([]byte(id)))
}

// fromRequest returns the request's session, if its cookie names a live one.
func (s *sessions) fromRequest(r *http.Request) (id string, sess session, ok bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return "", session{}, false
	}
	sess, ok = s.get(c.Value)
	return c.Value, sess, ok
}

// validCSRF reports whether the request carries the session's CSRF token
// in the header (or, for the plain logout form, in the form field).
func validCSRF(r *http.Request, sess session, formField bool) bool {
	got := r.Header.Get(csrfHeader)
	if got == "" && formField {
		got = r.PostFormValue("csrf")
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(sess.csrf)) == 1
}

// sameOrigin refuses a request whose Origin header names another site.
// Browsers send Origin on every POST; its absence (curl, the CLI) is fine,
// as those do not carry the cookie by accident.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	return o == "http://"+r.Host || o == "https://"+r.Host
}

// secureRequest reports whether the browser reached us over TLS, directly
// or through a TLS-terminating proxy: the session cookie is then Secure.
func secureRequest(r *http.Request) bool {
	return r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"
}

func setSessionCookie(w http.ResponseWriter, r *http.Request, id string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    id,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   secureRequest(r),
		SameSite: http.SameSiteStrictMode,
	})
}
