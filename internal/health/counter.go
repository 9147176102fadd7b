package health

// Counter is the health state machine of one instance: it counts consecutive
// successes and failures and flips between healthy and unhealthy when a
// threshold is reached.
//
// A Counter is not safe for concurrent use; its owner serialises calls.
type Counter struct {
	healthyThreshold   int
	unhealthyThreshold int
	healthy            bool
	successes          int
	failures           int
}

// NewCounter returns a Counter that starts healthy or unhealthy. Thresholds
// below 1 are treated as 1.
func NewCounter(healthyThreshold, unhealthyThreshold int, startHealthy bool) *Counter {
	return &Counter{
		healthyThreshold:   max(healthyThreshold, 1),
		unhealthyThreshold: max(unhealthyThreshold, 1),
		healthy:            startHealthy,
	}
}

// Observe records one result and returns the state after it, and whether
// this observation changed the state.
//
// A healthy instance turns unhealthy after UnhealthyThreshold consecutive
// failures; an unhealthy one turns healthy after HealthyThreshold consecutive
// successes. Any success resets the failure count and any failure resets the
// success count.
func (c *Counter) Observe(ok bool) (healthy, changed bool) {
	if ok {
		c.failures = 0
		c.successes++
		if !c.healthy && c.successes >= c.healthyThreshold {
			c.healthy = true
			changed = true
		}
		return c.healthy, changed
	}
	c.successes = 0
	c.failures++
	if c.healthy && c.failures >= c.unhealthyThreshold {
		c.healthy = false
		changed = true
	}
	return c.healthy, changed
}

// Healthy reports the current state.
func (c *Counter) Healthy() bool { return c.healthy }

// ConsecutiveFailures is the number of failures since the last success.
func (c *Counter) ConsecutiveFailures() int { return c.failures }

// ConsecutiveSuccesses is the number of successes since the last failure.
func (c *Counter) ConsecutiveSuccesses() int { return c.successes }
