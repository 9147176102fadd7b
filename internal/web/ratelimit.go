package web

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Failed logins are rate-limited per client address, for the dashboard's
// login form and the API's bearer token alike: each address may fail
// loginBurst times in a row, then once per loginRefill. While an address
// is over its limit, every request from it that carries a credential is
// answered 429 before the credential is looked at, so guessing the token
// goes no faster than the limit.
const (
	loginBurst  = 5
	loginRefill = 12 * time.Second
	// maxLimited bounds the table of addresses.
	maxLimited = 10000
)

// failLimiter is a token bucket of failed attempts per client address.
type failLimiter struct {
	mu      sync.Mutex
	m       map[string]*failBucket
	now     func() time.Time
	refused *prometheus.CounterVec // nil: no metrics
}

type failBucket struct {
	tokens float64
	last   time.Time
}

func newFailLimiter(now func() time.Time, reg prometheus.Registerer) *failLimiter {
	if now == nil {
		now = time.Now
	}
	l := &failLimiter{m: map[string]*failBucket{}, now: now}
	if reg != nil {
		l.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bluegreen_admin_auth_failures_total",
			Help: "Refused admin credentials (dashboard login or API bearer token): reason wrong_token, or rate_limited (the client's address failed too often; answered 429 without looking at the credential).",
		}, []string{"reason"})
		reg.MustRegister(l.refused)
		l.refused.WithLabelValues("wrong_token")
		l.refused.WithLabelValues("rate_limited")
	}
	return l
}

// clientAddr is the request's client address without its port.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// bucket returns addr's bucket refilled to now; l.mu is held.
func (l *failLimiter) bucket(addr string) *failBucket {
	now := l.now()
	b, ok := l.m[addr]
	if !ok {
		if len(l.m) >= maxLimited {
			l.prune(now)
		}
		b = &failBucket{tokens: loginBurst, last: now}
		l.m[addr] = b
		return b
	}
	b.tokens = min(loginBurst, b.tokens+now.Sub(b.last).Seconds()/loginRefill.Seconds())
	b.last = now
	return b
}

// prune drops the addresses whose buckets are full again, or the oldest
// half when none is.
func (l *failLimiter) prune(now time.Time) {
	full := loginRefill * loginBurst
	for k, b := range l.m {
		if now.Sub(b.last) >= full {
			delete(l.m, k)
		}
	}
	for k := range l.m { // map order is random: drops an arbitrary half
		if len(l.m) < maxLimited/2 {
			break
		}
		delete(l.m, k)
	}
}

// allow reports whether addr may try a credential now; if not, retry is
// when it may try again.
func (l *failLimiter) allow(addr string) (ok bool, retry time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(addr)
	if b.tokens >= 1 {
		return true, 0
	}
	if l.refused != nil {
		l.refused.WithLabelValues("rate_limited").Inc()
	}
	return false, time.Duration((1 - b.tokens) * float64(loginRefill))
}

// failed takes one attempt from addr's bucket.
func (l *failLimiter) failed(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(addr)
	b.tokens = max(0, b.tokens-1)
	if l.refused != nil {
		l.refused.WithLabelValues("wrong_token").Inc()
	}
}

// retryAfter sets Retry-After to retry, rounded up to a whole second.
func retryAfter(w http.ResponseWriter, retry time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int((retry+time.Second-1)/time.Second)))
}
