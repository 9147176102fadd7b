package process

import "time"

// backoff spaces the restarts of one instance: min, doubling up to max,
// and back to min once a process had stayed up stableAfter.
type backoff struct {
	min, max, stableAfter time.Duration
	cur                   time.Duration
}

func newBackoff(t timings) *backoff {
	return &backoff{min: t.minBackoff, max: t.maxBackoff, stableAfter: t.stableAfter, cur: t.minBackoff}
}

// next returns how long to wait before restarting a process that ran for
// uptime.
func (b *backoff) next(uptime time.Duration) time.Duration {
	if uptime >= b.stableAfter {
		b.cur = b.min
	}
	d := b.cur
	b.cur = min(2*b.cur, b.max)
	return d
}
