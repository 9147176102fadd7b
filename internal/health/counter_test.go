package health

import "testing"

func TestCounter(t *testing.T) {
	type step struct {
		ok          bool
		wantHealthy bool
		wantChanged bool
	}
	tests := []struct {
		name         string
		healthy      int
		unhealthy    int
		startHealthy bool
		steps        []step
	}{
		{
			name: "healthy turns unhealthy at the threshold", healthy: 2, unhealthy: 3, startHealthy: true,
			steps: []step{{false, true, false}, {false, true, false}, {false, false, true}, {false, false, false}},
		},
		{
			name: "a success resets the failure count", healthy: 2, unhealthy: 2, startHealthy: true,
			steps: []step{{false, true, false}, {true, true, false}, {false, true, false}, {false, false, true}},
		},
		{
			name: "unhealthy comes back at the healthy threshold", healthy: 2, unhealthy: 1, startHealthy: false,
			steps: []step{{true, false, false}, {true, true, true}, {true, true, false}},
		},
		{
			name: "a failure resets the success count", healthy: 2, unhealthy: 1, startHealthy: false,
			steps: []step{{true, false, false}, {false, false, false}, {true, false, false}, {true, true, true}},
		},
		{
			name: "thresholds below one act as one", healthy: 0, unhealthy: -1, startHealthy: true,
			steps: []step{{false, false, true}, {true, true, true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCounter(tt.healthy, tt.unhealthy, tt.startHealthy)
			if c.Healthy() != tt.startHealthy {
				t.Fatalf("start healthy = %v, want %v", c.Healthy(), tt.startHealthy)
			}
			for i, s := range tt.steps {
				h, ch := c.Observe(s.ok)
				if h != s.wantHealthy || ch != s.wantChanged {
					t.Fatalf("step %d Observe(%v) = (%v, %v), want (%v, %v)", i, s.ok, h, ch, s.wantHealthy, s.wantChanged)
				}
				if c.Healthy() != h {
					t.Fatalf("step %d Healthy() = %v, Observe said %v", i, c.Healthy(), h)
				}
			}
		})
	}
}

func TestCounterConsecutiveCounts(t *testing.T) {
	c := NewCounter(3, 3, true)
	c.Observe(false)
	c.Observe(false)
	if got := c.ConsecutiveFailures(); got != 2 {
		t.Fatalf("failures = %d, want 2", got)
	}
	c.Observe(true)
	if c.ConsecutiveFailures() != 0 || c.ConsecutiveSuccesses() != 1 {
		t.Fatalf("after success: failures %d successes %d, want 0 1", c.ConsecutiveFailures(), c.ConsecutiveSuccesses())
	}
}
