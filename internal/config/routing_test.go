package config

import (
	"strings"
	"testing"
)

func TestRoutingLimits(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"app: shop\nrouting:\n  drain_timeout: 0s\n", "bluegreen.yaml:3:18: routing.drain_timeout: must be greater than 0s"},
		{"app: shop\nrouting:\n  sticky: { cookie: bg, ttl: 500ms }\n", "bluegreen.yaml:3:30: routing.sticky.ttl: must be at least 1s"},
		{"app: shop\nrouting:\n  session_drain: -1m\n", `bluegreen.yaml:3:18: routing.session_drain: invalid duration "-1m": must not be negative`},
		{"app: shop\nrouting:\n  affinity: ip\n", `bluegreen.yaml:3:13: routing.affinity: unknown value "ip": want cookie (the sticky cookie), client_ip or none`},
	} {
		_, err := Parse("bluegreen.yaml", []byte(tc.yaml), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want an error containing %q", tc.yaml, err, tc.want)
		}
	}
}

func TestRoutingAffinity(t *testing.T) {
	c, err := Parse("bluegreen.yaml", []byte("app: shop\ndriver: { kind: static, static: { blue: [\"127.0.0.1:3001\"], green: [\"127.0.0.1:3002\"] } }\nrouting:\n  affinity: client_ip\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Routing.Affinity != AffinityClientIP {
		t.Fatalf("affinity %q, want client_ip", c.Routing.Affinity)
	}
	if d := Default().Routing.Affinity; d != AffinityCookie {
		t.Fatalf("default affinity %q, want cookie", d)
	}
}

func TestRoutingSessionDrain(t *testing.T) {
	c, err := Parse("bluegreen.yaml", []byte("app: shop\ndriver: { kind: static, static: { blue: [\"127.0.0.1:3001\"], green: [\"127.0.0.1:3002\"] } }\nrouting:\n  drain_timeout: 10s\n  session_drain: 15m\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Routing.SessionDrainTimeout(); got.String() != "15m0s" {
		t.Fatalf("session drain %s, want 15m", got)
	}
	c.Routing.SessionDrain = 0
	if got := c.Routing.SessionDrainTimeout(); got.String() != "10s" {
		t.Fatalf("session drain 0s gives %s, want drain_timeout 10s", got)
	}
}
