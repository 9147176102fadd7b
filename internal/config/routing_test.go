package config

import (
	"strings"
	"testing"
)

func TestRoutingLimits(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"app: shop\nrouting:\n  drain_timeout: 0s\n", "bluegreen.yaml:3:18: routing.drain_timeout: must be greater than 0s"},
		{"app: shop\nrouting:\n  sticky: { cookie: bg, ttl: 500ms }\n", "bluegreen.yaml:3:30: routing.sticky.ttl: must be at least 1s"},
	} {
		_, err := Parse("bluegreen.yaml", []byte(tc.yaml), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want an error containing %q", tc.yaml, err, tc.want)
		}
	}
}
