package notify

import "time"

// Defaults for the knobs Options can change.
const (
	DefaultQueueSize      = 256
	DefaultAttempts       = 5
	DefaultBackoffBase    = 500 * time.Millisecond
	DefaultBackoffMax     = 30 * time.Second
	DefaultAttemptTimeout = 10 * time.Second
	DefaultGrace          = 2 * time.Second
)

// settings are the tunables of a Notifier.
type settings struct {
	queueSize      int
	attempts       int
	backoffBase    time.Duration
	backoffMax     time.Duration
	attemptTimeout time.Duration
	grace          time.Duration
}

func defaultSettings() settings {
	return settings{
		queueSize:      DefaultQueueSize,
		attempts:       DefaultAttempts,
		backoffBase:    DefaultBackoffBase,
		backoffMax:     DefaultBackoffMax,
		attemptTimeout: DefaultAttemptTimeout,
		grace:          DefaultGrace,
	}
}

// Option changes one default of New. Values out of range (zero or
// negative) are ignored.
type Option func(*settings)

// WithQueueSize sets how many messages each URL buffers before the oldest
// is dropped.
func WithQueueSize(n int) Option {
	return func(s *settings) {
		if n > 0 {
			s.queueSize = n
		}
	}
}

// WithAttempts sets how many times one message is tried, the first
// attempt included.
func WithAttempts(n int) Option {
	return func(s *settings) {
		if n > 0 {
			s.attempts = n
		}
	}
}

// WithBackoff sets the wait after the first failed attempt (doubled after
// each further failure, with jitter) and its cap.
func WithBackoff(base, maxWait time.Duration) Option {
	return func(s *settings) {
		if base > 0 {
			s.backoffBase = base
		}
		if maxWait > 0 {
			s.backoffMax = maxWait
		}
		if s.backoffMax < s.backoffBase {
			s.backoffMax = s.backoffBase
		}
	}
}

// WithAttemptTimeout bounds one POST, response included.
func WithAttemptTimeout(d time.Duration) Option {
	return func(s *settings) {
		if d > 0 {
			s.attemptTimeout = d
		}
	}
}

// WithGrace sets how long Run keeps delivering queued messages after ctx
// is done or the event channel closes.
func WithGrace(d time.Duration) Option {
	return func(s *settings) {
		if d > 0 {
			s.grace = d
		}
	}
}
