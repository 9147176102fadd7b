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

func TestRoutingMaxRequestBody(t *testing.T) {
	const base = "app: shop\ndriver: { kind: static, static: { blue: [\"127.0.0.1:3001\"], green: [\"127.0.0.1:3002\"] } }\n"
	if d := Default().Routing.MaxRequestBody; d != 32<<20 {
		t.Fatalf("default max_request_body %v, want 32MiB", d)
	}
	for in, want := range map[string]Size{
		"0": 0, "1048576": 1 << 20, "512KiB": 512 << 10, "10MiB": 10 << 20, "1GiB": 1 << 30,
		"10MB": 10_000_000, "1GB": 1_000_000_000, "64KB": 64_000, "100B": 100, `"2 MiB"`: 2 << 20,
	} {
		c, err := Parse("bluegreen.yaml", []byte(base+"routing:\n  max_request_body: "+in+"\n"), nil)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got := c.Routing.MaxRequestBody; got != want {
			t.Errorf("max_request_body: %s gives %d bytes, want %d", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"10mib": `bluegreen.yaml:4:21: routing.max_request_body: invalid size "10mib": unknown unit "mib", did you mean MiB?`,
		"10M":   `bluegreen.yaml:4:21: routing.max_request_body: invalid size "10M": want a whole number of bytes, or of KiB, MiB, GiB (1024) or KB, MB, GB (1000), such as 32MiB`,
		"1.5GB": `bluegreen.yaml:4:21: routing.max_request_body: invalid size "1.5GB": want a whole number of bytes`,
		"-1":    `bluegreen.yaml:4:21: routing.max_request_body: invalid size "-1": must not be negative`,
		"":      `bluegreen.yaml:4:20: routing.max_request_body: missing value: want a size such as 512KiB, 32MiB or 1GB`,
		"[1]":   `bluegreen.yaml:4:21: routing.max_request_body: want a size such as 512KiB, 32MiB or 1GB, got a list`,
	} {
		_, err := Parse("bluegreen.yaml", []byte(base+"routing:\n  max_request_body: "+in+"\n"), nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want an error containing %q", in, err, want)
		}
	}
	c := Default()
	c.App, c.Driver.Kind, c.Driver.Static = "shop", DriverStatic, StaticDriver{Blue: []string{"127.0.0.1:3001"}, Green: []string{"127.0.0.1:3002"}}
	c.Routing.MaxRequestBody = -1
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "routing.max_request_body: must not be negative (0 means no limit), not -1 bytes") {
		t.Errorf("a Config built in code with -1: %v", err)
	}
}

func TestRoutingTrustedProxies(t *testing.T) {
	const base = "app: shop\ndriver: { kind: static, static: { blue: [\"127.0.0.1:3001\"], green: [\"127.0.0.1:3002\"] } }\n"
	c, err := Parse("bluegreen.yaml", []byte(base+"routing:\n  trusted_proxies: [10.0.0.0/8, 192.168.1.7, \"fd00::/8\", \"::ffff:172.16.0.0/108\"]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range c.Routing.TrustedProxyPrefixes() {
		got = append(got, p.String())
	}
	if want := "10.0.0.0/8 192.168.1.7/32 fd00::/8 172.16.0.0/12"; strings.Join(got, " ") != want {
		t.Fatalf("prefixes %q, want %q", got, want)
	}
	_, err = Parse("bluegreen.yaml", []byte(base+"routing:\n  trusted_proxies:\n    - 10.0.0.0/8\n    - 10.0.0.300/8\n"), nil)
	if want := `bluegreen.yaml:6:7: routing.trusted_proxies[1]: invalid CIDR prefix or IP address "10.0.0.300/8"`; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want an error containing %q", err, want)
	}
}
