package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// Dashboard sessions: the login form posts the admin token once; the
// browser then holds only a random session id in an HttpOnly cookie, and
// every unsafe request from a session must carry that session's CSRF
// token in a header. Sessions live in memory and, with Options.Store, in
// the store too (by the SHA-256 of the id, never the id): a restart of
// serve keeps everyone logged in, and serves sharing PostgreSQL accept
// each other's sessions.
const (
	sessionCookie = "bluegreen_session"
	// csrfHeader carries the session's CSRF token on every POST.
	csrfHeader = "X-CSRF-Token"
	// sessionTTL is how long a login lasts, from the login.
	sessionTTL = 12 * time.Hour
	// maxSessions bounds the table; the oldest login goes first.
	maxSessions = 1000
	// sessionReload is how often at most an unknown cookie makes the table
	// be read again from the store (a login on another serve).
	sessionReload = time.Second
	// sessionStoreTimeout bounds one read or write of the stored table.
	sessionStoreTimeout = 5 * time.Second
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

	// st, when not nil, keeps the table across restarts (see persist).
	st       store.Store
	app      string
	log      *slog.Logger
	loadMu   sync.Mutex // one reload at a time
	loadedAt time.Time  // guarded by mu
}

// persist keeps the table in st as well and loads the sessions stored
// there (a failed load is logged: the sessions are then only the new ones).
func (s *sessions) persist(st store.Store, app string, log *slog.Logger) {
	if st == nil {
		return
	}
	s.st, s.app, s.log = st, app, log
	s.reload(true)
}

// reload merges the stored sessions into the table, at most once per
// sessionReload unless forced.
func (s *sessions) reload(force bool) {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	now := s.now()
	s.mu.Lock()
	if !force && now.Sub(s.loadedAt) < sessionReload {
		s.mu.Unlock()
		return
	}
	s.loadedAt = now
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), sessionStoreTimeout)
	defer cancel()
	stored, err := s.st.LoadAdminSessions(ctx, s.app, now)
	if err != nil {
		s.log.Error("dashboard sessions: load from the store failed; stored logins are not accepted until it works", "err", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range stored {
		raw, err := hex.DecodeString(a.Key)
		if err != nil || len(raw) != 32 || len(s.m) >= maxSessions {
			continue
		}
		s.m[[32]byte(raw)] = session{csrf: a.CSRF, created: a.Created, expires: a.Expires}
	}
}

// save writes one session to the store; a failure is logged (the session
// then lasts only as long as this process).
func (s *sessions) save(key [32]byte, sess session) {
	ctx, cancel := context.WithTimeout(context.Background(), sessionStoreTimeout)
	defer cancel()
	a := store.AdminSession{Key: hex.EncodeToString(key[:]), CSRF: sess.csrf, Created: sess.created, Expires: sess.expires}
	if err := s.st.SaveAdminSession(ctx, s.app, a); err != nil {
		s.log.Error("dashboard sessions: save to the store failed; this login ends with this process", "err", err)
	}
}

// forget removes sessions from the store; a failure is logged.
func (s *sessions) forget(keys ...[32]byte) {
	ctx, cancel := context.WithTimeout(context.Background(), sessionStoreTimeout)
	defer cancel()
	for _, k := range keys {
		if err := s.st.DeleteAdminSession(ctx, s.app, hex.EncodeToString(k[:])); err != nil {
			s.log.Error("dashboard sessions: delete from the store failed", "err", err)
		}
	}
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
	key := sha256.Sum256([]byte(id))
	var evicted [][32]byte
	s.mu.Lock()
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
		evicted = append(evicted, oldest)
	}
	s.m[key] = sess
	s.mu.Unlock()
	if s.st != nil {
		s.forget(evicted...)
		s.save(key, sess)
	}
	return id, sess
}

// get returns the live session with id.
func (s *sessions) get(id string) (session, bool) {
	if id == "" {
		return session{}, false
	}
	key := sha256.Sum256([]byte(id))
	sess, ok, known := s.lookup(key)
	if !known && s.st != nil {
		s.reload(false) // perhaps a login on another serve
		sess, ok, _ = s.lookup(key)
	}
	return sess, ok
}

// lookup returns the live session with key; known reports whether the
// table had key at all (an expired one is dropped).
func (s *sessions) lookup(key [32]byte) (sess session, ok, known bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, known = s.m[key]
	if !known {
		return session{}, false, false
	}
	if !s.now().Before(sess.expires) {
		delete(s.m, key)
		return session{}, false, true
	}
	return sess, true, true
}

// end forgets the session with id.
func (s *sessions) end(id string) {
	key := sha256.Sum256([]byte(id))
	s.mu.Lock()
	delete(s.m, key)
	s.mu.Unlock()
	if s.st != nil {
		s.forget(key)
	}
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
