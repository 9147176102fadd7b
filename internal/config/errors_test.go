package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bluegreen-dev/bluegreen/internal/golden"
)

// TestBadConfigs parses each testdata/bad/NAME.yaml and compares every
// error with testdata/bad/NAME.golden. want is the place and key that the
// main error of the case must name, so a regenerated golden file cannot
// silently lose it.
func TestBadConfigs(t *testing.T) {
	env := map[string]string{"DB_URL": "postgres://db"}
	cases := []struct{ name, want string }{
		{"syntax", "syntax.yaml:3: syntax error: "},
		{"tabs", "tabs.yaml:3: syntax error: "},
		{"unknown_key", `unknown_key.yaml:7:3: health.intervall: unknown key: did you mean "interval"?`},
		{"unknown_top", "unknown_top.yaml:5:1: frobnicate: unknown key; known keys: app, "},
		{"list_type", "list_type.yaml:7:14: checks[0].command: want a list, got the string"},
		{"ecs_rules_without_cloudwatch", "ecs_rules_without_cloudwatch.yaml:19:5: analysis.rules: with driver.kind ecs production traffic goes through the load balancer"},
		{"wrong_types", "wrong_types.yaml:7:16: driver.process.instances: want a whole number"},
		{"bad_duration", `bad_duration.yaml:7:13: health.interval: invalid duration "5x": use a Go duration such as 500ms, 2s, 1m`},
		{"bad_percent", `bad_percent.yaml:7:34: analysis.rules[0].max: invalid percentage "150%"`},
		{"bad_size", `bad_size.yaml:7:21: routing.max_request_body: invalid size "10 megabytes": want a whole number of bytes, or of KiB, MiB, GiB (1024) or KB, MB, GB (1000), such as 32MiB`},
		{"bad_listen", `bad_listen.yaml:2:9: listen: invalid address "localhost"`},
		{"bad_strategy", `bad_strategy.yaml:5:11: strategy: invalid strategy "linear 120% every 1m"`},
		{"bad_strategy_word", `bad_strategy_word.yaml:5:11: strategy: invalid strategy "gradual 10% every 1m"`},
		{"bad_static", `bad_static.yaml:5:30: driver.static.blue[1]: invalid backend "10.0.0.5"`},
		{"bad_driver_kind", `bad_driver_kind.yaml:3:9: driver.kind: unknown driver "docker"`},
		{"kubernetes_service_weights", "kubernetes_service_weights.yaml:8:11: strategy: traffic service switches the Service's selector and cannot weight traffic, so it needs strategy: all-at-once, not linear; for a gradual shift use driver.kubernetes.traffic gateway, ingress-nginx or router"},
		{"kubernetes_gateway", "kubernetes_gateway.yaml:7:5: driver.kubernetes.gateway: required when driver.kubernetes.traffic is gateway: the Gateway the HTTPRoute attaches to, such as `gateway: my-gateway`"},
		{"kubernetes_template", "kubernetes_template.yaml:7:7: driver.kubernetes.template: set either driver.kubernetes.manifest or driver.kubernetes.template, not both"},
		{"missing_app", "missing_app.yaml:1:1: app: required"},
		{"missing_command", "missing_command.yaml:3:3: driver.process.command: required when driver.kind is process"},
		{"missing_green", "missing_green.yaml:4:3: driver.static.green: required when driver.kind is static"},
		{"threshold", "threshold.yaml:6:22: health.healthy_threshold: must be at least 1, not 0"},
		{"duplicate_key", "duplicate_key.yaml:7:3: health.path: duplicate key (first at line 6)"},
		{"duplicate_check", `duplicate_check.yaml:8:11: checks[1].name: duplicate check name "health"`},
		{"check_kinds", `check_kinds.yaml:6:5: checks[0]: check "nothing" has no kind`},
		{"check_details", "check_details.yaml:9:5: checks[1].browser.path: must start with /"},
		{"check_options", "check_options.yaml:7:42: checks[0].mcp.resources_read.uri: required"},
		{"on_inconclusive", `on_inconclusive.yaml:6:20: analysis.on_inconclusive: unknown value "ignore": want pause, extend or fail`},
		{"negative_instances", "negative_instances.yaml:6:16: driver.process.instances: must be at least 1, not -1"},
		{"undefined_var", "undefined_var.yaml:5:48: driver.process.env.SECRET: undefined variable NOPE"},
		{"many", "many.yaml:7:13: health.interval: invalid duration"},
		{"tls", "tls.yaml:8:18: redirect_listen: redirects plain HTTP to the production listener's HTTPS"},
		{"acme", "acme.yaml:8:5: listen_tls.acme: set either listen_tls.cert_file and listen_tls.key_file or listen_tls.acme, not both"},
		{"acme_domains", "acme_domains.yaml:6:3: listen_tls.acme.domains: required: the DNS names to get a certificate for"},
		{"limits", "limits.yaml:8:20: limits.max_connections: 4 is too few to serve anyone under load"},
		{"runtime", "runtime.yaml:8:18: runtime.gc_heap_floor: must be 0 (Go's default pacing) or at least 4MiB"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join("testdata", "bad", tc.name+".yaml")
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := Parse(tc.name+".yaml", data, mapEnv(env))
			if err == nil {
				t.Fatalf("Parse succeeded (%+v), want errors", cfg)
			}
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error is %T, want Errors", err)
			}
			got := err.Error() + "\n"
			if !strings.Contains(got, tc.want) {
				t.Errorf("errors do not name %q:\n%s", tc.want, got)
			}
			golden.Assert(t, filepath.Join("testdata", "bad", tc.name+".golden"), []byte(got))
		})
	}
}

// TestErrorsCollected asserts that one file with many problems reports
// each, not only the first, sorted by line.
func TestErrorsCollected(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "bad", "many.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse("many.yaml", data, nil)
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("got %v, want Errors", err)
	}
	if len(errs) < 8 {
		t.Fatalf("got %d errors, want every problem:\n%v", len(errs), err)
	}
	for i := 1; i < len(errs); i++ {
		if errs[i].Line < errs[i-1].Line {
			t.Errorf("errors not in file order: line %d after %d", errs[i].Line, errs[i-1].Line)
		}
	}
	for _, e := range errs {
		if e.File != "many.yaml" || e.Line == 0 || e.Col == 0 || e.Key == "" {
			t.Errorf("error %q lacks file:line:col or key", e)
		}
	}
}

// TestRefusedValueNotReportedTwice: a section of the wrong type is one
// error, not one per key inside it.
func TestRefusedValueNotReportedTwice(t *testing.T) {
	_, err := Parse("b.yaml", []byte("app: shop\ndriver: {kind: static, static: {blue: [\"h:1\"], green: [\"h:2\"]}}\nchecks:\n  - name: x\n    http: /health\n"), nil)
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("got %v, want Errors", err)
	}
	if len(errs) != 1 || errs[0].Key != "checks[0].http" || errs[0].Line != 5 {
		t.Errorf("got %v, want one error at b.yaml:5 checks[0].http", err)
	}
}

func TestErrorFormat(t *testing.T) {
	cases := []struct {
		e    Error
		want string
	}{
		{Error{File: "b.yaml", Line: 14, Col: 13, Key: "health.interval", Msg: "bad"}, "b.yaml:14:13: health.interval: bad"},
		{Error{File: "b.yaml", Line: 3, Msg: "syntax error: x"}, "b.yaml:3: syntax error: x"},
		{Error{File: "env BLUEGREEN_LISTEN", Key: "listen", Msg: "bad"}, "env BLUEGREEN_LISTEN: listen: bad"},
		{Error{Key: "app", Msg: "required"}, "app: required"},
	}
	for _, tc := range cases {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
	es := Errors{&cases[0].e, &cases[3].e}
	if got, want := es.Error(), "b.yaml:14:13: health.interval: bad\napp: required"; got != want {
		t.Errorf("Errors: got %q, want %q", got, want)
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"path", "interval", "timeout", "healthy_threshold", "unhealthy_threshold", "ready_timeout"}
	cases := map[string]string{
		"intervall":         `: did you mean "interval"?`,
		"Path":              `: did you mean "path"?`,
		"healthy-threshold": `: did you mean "healthy_threshold"?`,
		"readytimeout":      `: did you mean "ready_timeout"?`,
		"frobnicate":        "; known keys: path, interval, timeout, healthy_threshold, unhealthy_threshold, ready_timeout",
	}
	for key, want := range cases {
		if got := suggest(key, known); got != want {
			t.Errorf("suggest(%q) = %q, want %q", key, got, want)
		}
	}
}

func mapEnv(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}
