package config

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

const minimal = `app: shop
driver:
  kind: static
  static: { blue: ["127.0.0.1:3001"], green: ["127.0.0.1:3002"] }
`

func mustParse(t *testing.T, text string, env map[string]string) *Config {
	t.Helper()
	c, err := Parse("bluegreen.yaml", []byte(text), mapEnv(env))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

// TestDefaults: every key left out gets the documented default.
func TestDefaults(t *testing.T) {
	c := mustParse(t, minimal, nil)
	want := Default()
	want.App = "shop"
	want.Driver.Kind = DriverStatic
	want.Driver.Static = StaticDriver{Blue: []string{"127.0.0.1:3001"}, Green: []string{"127.0.0.1:3002"}}
	want.File, want.Dir, want.src = c.File, c.Dir, c.src
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
	checks := []struct {
		name     string
		got, exp any
	}{
		{"listen", c.Listen, "127.0.0.1:8080"},
		{"preview_listen", c.PreviewListen, "127.0.0.1:8081"},
		{"admin_listen", c.AdminListen, "127.0.0.1:9090"},
		{"state", c.State, ".bluegreen/state.db"},
		{"admin_token_file", c.AdminTokenFile, ".bluegreen/admin.token"},
		{"metrics_auth", c.MetricsAuth, false},
		{"driver.process.instances", c.Driver.Process.Instances, 2},
		{"driver.process.stop_timeout", c.Driver.Process.StopTimeout.D(), 30 * time.Second},
		{"driver.process.dir", c.Driver.Process.Dir, "."},
		{"driver.process.log_dir", c.Driver.Process.LogDir, ".bluegreen/logs"},
		{"health.path", c.Health.Path, "/health"},
		{"health.interval", c.Health.Interval.D(), time.Second},
		{"health.timeout", c.Health.Timeout.D(), 2 * time.Second},
		{"health.healthy_threshold", c.Health.HealthyThreshold, 2},
		{"health.unhealthy_threshold", c.Health.UnhealthyThreshold, 3},
		{"health.ready_timeout", c.Health.ReadyTimeout.D(), time.Minute},
		{"routing.drain_timeout", c.Routing.DrainTimeout.D(), 30 * time.Second},
		{"routing.sticky.cookie", c.Routing.Sticky.Cookie, "bg_slot"},
		{"routing.sticky.ttl", c.Routing.Sticky.TTL.D(), time.Hour},
		{"routing.mcp_sessions", c.Routing.MCPSessions, true},
		{"routing.session_drain", c.Routing.SessionDrainTimeout(), 30 * time.Second},
		{"routing.mcp_metrics", c.Routing.MCPMetrics, true},
		{"routing.preview_header.name", c.Routing.PreviewHeader.Name, "X-Canary-Version"},
		{"routing.preview_header.value_file", c.Routing.PreviewHeader.ValueFile, ".bluegreen/preview.secret"},
		{"strategy", c.Strategy.String(), "linear 10% every 3m"},
		{"bake_time", c.BakeTime.D(), 5 * time.Minute},
		{"scale_down_delay", c.ScaleDownDelay.D(), 30 * time.Minute},
		{"analysis.interval", c.Analysis.Interval.D(), 30 * time.Second},
		{"analysis.min_requests", c.Analysis.MinRequests, 50},
		{"analysis.on_inconclusive", c.Analysis.OnInconclusive, InconclusivePause},
		{"analysis.rules", len(c.Analysis.Rules), 2},
		{"migrations.dir", c.Migrations.Dir, "migrations"},
	}
	for _, ch := range checks {
		if ch.got != ch.exp {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.exp)
		}
	}
}

// TestCheckDefaults: a check's defaults apply per check and per kind, and
// a key written overrides them.
func TestCheckDefaults(t *testing.T) {
	c := mustParse(t, minimal+`checks:
  - name: a
    http: { path: /a }
  - name: b
    slot: both
    timeout: 3s
    retries: 2
    http: { method: POST, path: /b, body: '{"x":1}', headers: { X-Y: z }, expect: { status: 201, json: { data.ok: true, n: 3 }, body_contains: ok, body_regex: "o+k" }, max_latency: 500ms }
  - name: c
    mcp: { tools_list: { min: 1, required: [search] } }
`, nil)
	a, b, m := c.Checks[0], c.Checks[1], c.Checks[2]
	if a.Slot != SlotIdle || a.Timeout.D() != 10*time.Second || a.Retries != 0 || a.Kind() != KindHTTP {
		t.Errorf("check a: %+v", a)
	}
	if a.HTTP.Method != "GET" || a.HTTP.Expect.Status != 200 || a.HTTP.MaxLatency != 0 {
		t.Errorf("check a http: %+v", *a.HTTP)
	}
	h := b.HTTP
	if b.Slot != SlotBoth || b.Timeout.D() != 3*time.Second || b.Retries != 2 {
		t.Errorf("check b: %+v", b)
	}
	if h.Method != "POST" || h.Path != "/b" || h.Body != `{"x":1}` || h.Headers["X-Y"] != "z" || h.MaxLatency.D() != 500*time.Millisecond {
		t.Errorf("check b http: %+v", *h)
	}
	wantJSON := map[string]any{"data.ok": true, "n": 3}
	if h.Expect.Status != 201 || !reflect.DeepEqual(h.Expect.JSON, wantJSON) || h.Expect.BodyContains != "ok" || h.Expect.BodyRegex != "o+k" {
		t.Errorf("check b expect: %+v", h.Expect)
	}
	if m.Kind() != KindMCP || m.MCP.Path != "/mcp" || m.MCP.ToolsList.CompareWithLive != CompareOff || m.MCP.ToolsList.Min != 1 {
		t.Errorf("check c mcp: %+v %+v", *m.MCP, *m.MCP.ToolsList)
	}
}

func TestRules(t *testing.T) {
	c := mustParse(t, minimal+`analysis:
  rules:
    - { metric: error_rate, max: 0.5%, max_ratio_to_live: 2 }
    - { metric: latency_p95, max: 750ms, min: 1ms }
`, nil)
	r := c.Analysis.Rules
	if len(r) != 2 {
		t.Fatalf("got %d rules, want 2 (written rules replace the defaults)", len(r))
	}
	if r[0].Max.Raw != "0.5%" || r[0].Max.Value != 0.005 || r[0].MaxRatioToLive != 2 || r[0].Min != nil {
		t.Errorf("rule 0: %+v %+v", r[0], *r[0].Max)
	}
	if r[1].Max.Duration() != 750*time.Millisecond || r[1].Max.Value != 0.75 || r[1].Min.Duration() != time.Millisecond {
		t.Errorf("rule 1: %+v %+v", *r[1].Max, *r[1].Min)
	}
	_, err := Parse("b.yaml", []byte(minimal+"analysis:\n  rules:\n    - { metric: error_rate, max_ratio_to_live: 0 }\n    - { metric: p99 }\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "b.yaml:7:48: analysis.rules[0].max_ratio_to_live: must be greater than 0") ||
		!strings.Contains(err.Error(), `b.yaml:8:17: analysis.rules[1].metric: unknown metric "p99"`) {
		t.Errorf("got %v", err)
	}
}

// TestStarter: the starter file parses with zero errors, is the static
// driver on 3001/3002, keeps every other default, and mentions every key.
func TestStarter(t *testing.T) {
	text := Starter("shop")
	c := mustParse(t, text, nil)
	if c.App != "shop" || c.Driver.Kind != DriverStatic ||
		!reflect.DeepEqual(c.Driver.Static, StaticDriver{Blue: []string{"127.0.0.1:3001"}, Green: []string{"127.0.0.1:3002"}}) {
		t.Errorf("starter: app %q driver %+v", c.App, c.Driver)
	}
	if len(c.Checks) != 1 || c.Checks[0].Kind() != KindHTTP {
		t.Errorf("starter checks: %+v", c.Checks)
	}
	want := Default()
	want.App, want.Driver.Kind, want.Driver.Static, want.Checks = c.App, c.Driver.Kind, c.Driver.Static, c.Checks
	want.Releases, want.Notify = c.Releases, c.Notify
	want.File, want.Dir, want.src = c.File, c.Dir, c.src
	if !reflect.DeepEqual(c, want) {
		t.Errorf("starter differs from the defaults:\ngot  %+v\nwant %+v", c, want)
	}
	for _, key := range yamlKeys(reflect.TypeOf(Config{})) {
		if !strings.Contains(text, key+":") {
			t.Errorf("starter does not show key %q", key)
		}
	}
	// The commented process lines become a valid process config.
	var proc []string
	in := false
	for _, l := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(l, "  # process:"):
			in = true
			proc = append(proc, "  process:")
		case in && strings.HasPrefix(l, "  #   "):
			proc = append(proc, "    "+strings.TrimPrefix(l, "  #   "))
		default:
			in = false
		}
	}
	if len(proc) != 7 {
		t.Fatalf("found %d commented process lines, want 7: %q", len(proc), proc)
	}
	pc := mustParse(t, "app: shop\ndriver:\n  kind: process\n"+strings.Join(proc, "\n")+"\n", map[string]string{"DATABASE_URL": "postgres://x"})
	if pc.Driver.Process.Command[0] != "./bin/app" || pc.Driver.Process.Env["DATABASE_URL"] != "postgres://x" {
		t.Errorf("process lines: %+v", pc.Driver.Process)
	}
	// An app name that YAML would misread is quoted.
	if !strings.Contains(Starter("a: b"), `app: "a: b"`) {
		t.Error("starter does not quote an odd app name")
	}
}

// yamlKeys lists the leaf and section key names of t.
func yamlKeys(t reflect.Type) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == reflect.TypeOf(Strategy{}) || t == reflect.TypeOf(Limit{}) {
		return nil
	}
	var keys []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		keys = append(keys, name)
		if t == reflect.TypeOf(Config{}) || t == reflect.TypeOf(Driver{}) || t == reflect.TypeOf(ProcessDriver{}) ||
			t == reflect.TypeOf(Health{}) || t == reflect.TypeOf(Routing{}) || t == reflect.TypeOf(Analysis{}) ||
			t == reflect.TypeOf(Migrations{}) || t == reflect.TypeOf(StaticDriver{}) || t == reflect.TypeOf(Sticky{}) ||
			t == reflect.TypeOf(PreviewHeader{}) {
			keys = append(keys, yamlKeys(t.Field(i).Type)...)
		}
	}
	return keys
}

func TestEnvOverrides(t *testing.T) {
	file := minimal + "listen: 127.0.0.1:7000\nstate: file.db\n"
	c := mustParse(t, file, map[string]string{
		"BLUEGREEN_APP":              "other",
		"BLUEGREEN_LISTEN":           "0.0.0.0:80",
		"BLUEGREEN_PREVIEW_LISTEN":   "127.0.0.1:81",
		"BLUEGREEN_ADMIN_LISTEN":     "127.0.0.1:82",
		"BLUEGREEN_STATE":            "postgres://u@db/bg",
		"BLUEGREEN_ADMIN_TOKEN_FILE": "/etc/bg/token",
	})
	got := []string{c.App, c.Listen, c.PreviewListen, c.AdminListen, c.State, c.AdminTokenFile}
	want := []string{"other", "0.0.0.0:80", "127.0.0.1:81", "127.0.0.1:82", "postgres://u@db/bg", "/etc/bg/token"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if !c.StateIsPostgres() || c.StatePath() != "postgres://u@db/bg" || c.AdminTokenPath() != "/etc/bg/token" {
		t.Errorf("accessors: %q %q", c.StatePath(), c.AdminTokenPath())
	}
	if n := len(EnvVars()); n != 6 {
		t.Errorf("EnvVars has %d entries, want 6", n)
	}

	// An empty variable does not override.
	c = mustParse(t, file, map[string]string{"BLUEGREEN_LISTEN": ""})
	if c.Listen != "127.0.0.1:7000" {
		t.Errorf("empty env: listen = %q", c.Listen)
	}

	// A bad value names the variable.
	_, err := Parse("bluegreen.yaml", []byte(file), mapEnv(map[string]string{"BLUEGREEN_LISTEN": "nope", "BLUEGREEN_APP": "a b"}))
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 2 {
		t.Fatalf("got %v, want 2 errors", err)
	}
	for _, w := range []string{`env BLUEGREEN_LISTEN: listen: invalid address "nope"`, `env BLUEGREEN_APP: app: invalid app name "a b"`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("errors do not contain %q:\n%v", w, err)
		}
	}
}

func TestExpand(t *testing.T) {
	env := mapEnv(map[string]string{"A": "alpha", "EMPTY": "", "X_1": "x"})
	cases := []struct{ in, want, err string }{
		{"plain {port}", "plain {port}", ""},
		{"${A}", "alpha", ""},
		{"pre-${A}-${X_1}-post", "pre-alpha-x-post", ""},
		{"${UNSET:-def}", "def", ""},
		{"${UNSET:-}", "", ""},
		{"${EMPTY:-def}", "def", ""},
		{"${EMPTY}", "", ""},
		{"${A:-def}", "alpha", ""},
		{"$${A} and ${A}", "${A} and alpha", ""},
		{"$A stays", "$A stays", ""},
		{"${UNSET}", "", "undefined variable UNSET: set it, or write ${UNSET:-default}"},
		{"${A", "", "unterminated ${"},
		{"${1A}", "", "invalid variable reference ${1A}"},
		{"${}", "", "invalid variable reference ${}"},
	}
	for _, tc := range cases {
		got, err := expand(tc.in, env)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("expand(%q): err %v, want %q", tc.in, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("expand(%q): %v", tc.in, err)
		case tc.err == "" && got != tc.want:
			t.Errorf("expand(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestExpandInConfig: the expanded keys get their values; other keys are
// left as written.
func TestExpandInConfig(t *testing.T) {
	c := mustParse(t, `app: shop
health: { path: "/${NOT_EXPANDED}" }
driver:
  process:
    command: ["./bin/shop", "--db=${DB}", "--port={port}"]
    env: { DATABASE_URL: "${DB}", MODE: "${MODE:-prod}" }
migrations:
  database_url: ${DB}
notify:
  - webhook: https://hooks.example.com/${HOOK}
`, map[string]string{"DB": "postgres://u:p@db/shop", "HOOK": "abc"})
	p := c.Driver.Process
	if !reflect.DeepEqual(p.Command, []string{"./bin/shop", "--db=postgres://u:p@db/shop", "--port={port}"}) {
		t.Errorf("command: %q", p.Command)
	}
	if !reflect.DeepEqual(p.Env, map[string]string{"DATABASE_URL": "postgres://u:p@db/shop", "MODE": "prod"}) {
		t.Errorf("env: %q", p.Env)
	}
	if c.Migrations.DatabaseURL != "postgres://u:p@db/shop" || c.Notify[0].Webhook != "https://hooks.example.com/abc" {
		t.Errorf("database_url %q webhook %q", c.Migrations.DatabaseURL, c.Notify[0].Webhook)
	}
	if c.Health.Path != "/${NOT_EXPANDED}" {
		t.Errorf("health.path was expanded: %q", c.Health.Path)
	}
	_, err := Parse("b.yaml", []byte("app: shop\ndriver: { process: { command: [x] } }\nmigrations: { database_url: \"${DB}\" }\nnotify:\n  - webhook: ${HOOK}\n"), nil)
	for _, w := range []string{"b.yaml:3:29: migrations.database_url: undefined variable DB", "b.yaml:5:14: notify[0].webhook: undefined variable HOOK"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("got %v, want %q", err, w)
		}
	}
}

// TestPaths: relative paths resolve against the config file's directory;
// absolute paths and URLs are unchanged; raw values are kept.
func TestPaths(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "conf", "bluegreen.yaml")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	text := minimal + `admin_token_file: /abs/token
routing: { preview_header: { name: X-P, value_file: secrets/p } }
migrations: { dir: db/migrations }
driver:
  kind: static
  static: { blue: ["127.0.0.1:3001"], green: ["127.0.0.1:3002"] }
  process: { dir: app, log_dir: ../logs }
`
	text = strings.Replace(text, minimal, "app: shop\n", 1)
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, "conf")
	cases := []struct{ name, got, want string }{
		{"Dir", c.Dir, base},
		{"StatePath", c.StatePath(), filepath.Join(base, ".bluegreen/state.db")},
		{"AdminTokenPath", c.AdminTokenPath(), "/abs/token"},
		{"PreviewSecretPath", c.PreviewSecretPath(), filepath.Join(base, "secrets/p")},
		{"MigrationsDir", c.MigrationsDir(), filepath.Join(base, "db/migrations")},
		{"ProcessDir", c.ProcessDir(), filepath.Join(base, "app")},
		{"LogDir", c.LogDir(), filepath.Join(dir, "logs")},
		{"raw state", c.State, ".bluegreen/state.db"},
		{"raw log_dir", c.Driver.Process.LogDir, "../logs"},
	}
	for _, tc := range cases {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	if c.ProcessDir() == "" || Default().ProcessDir() != "." {
		t.Errorf("default process dir: %q", Default().ProcessDir())
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "read config") {
		t.Errorf("Load of a missing file: %v", err)
	}
}

// TestValidateInCode: Validate works on a Config built in code, without
// file positions.
func TestValidateInCode(t *testing.T) {
	c := Default()
	c.App = "shop"
	c.Driver.Process.Command = []string{"./bin/shop"}
	if err := c.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	c.Health.Interval = 0
	c.Driver.Process.Instances = -3
	c.Checks = []Check{{Name: "x", Slot: SlotIdle, Timeout: Duration(time.Second)}}
	err := c.Validate()
	want := "driver.process.instances: must be at least 1, not -3\nhealth.interval: must be greater than 0s\nchecks[0]: check \"x\" has no kind: give it one of http, mcp, browser or command"
	if err == nil || err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}
}

func TestEmptyAndOddDocuments(t *testing.T) {
	for _, text := range []string{"", "# only a comment\n", "~\n"} {
		_, err := Parse("e.yaml", []byte(text), nil)
		if err == nil || !strings.Contains(err.Error(), "e.yaml:1:1: app: required") {
			t.Errorf("%q: got %v", text, err)
		}
	}
	_, err := Parse("e.yaml", []byte("- a\n- b\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "e.yaml:1:1: want a mapping of keys, got a list") {
		t.Errorf("list document: got %v", err)
	}
	// Anchors and aliases resolve.
	c := mustParse(t, minimal+"health: { interval: &i 3s, timeout: *i }\n", nil)
	if c.Health.Timeout.D() != 3*time.Second {
		t.Errorf("alias: timeout %v", c.Health.Timeout)
	}
}

func TestDurationAndPercentText(t *testing.T) {
	for in, want := range map[string]time.Duration{"500ms": 500 * time.Millisecond, "1m30s": 90 * time.Second, "0": 0, " 2h ": 2 * time.Hour} {
		var d Duration
		if err := d.UnmarshalText([]byte(in)); err != nil || d.D() != want {
			t.Errorf("Duration %q = %v, %v; want %v", in, d, err, want)
		}
	}
	for _, bad := range []string{"5x", "5", "-1s", ""} {
		var d Duration
		if err := d.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("Duration %q: no error", bad)
		}
	}
	for d, want := range map[time.Duration]string{3 * time.Minute: "3m", time.Hour: "1h", 90 * time.Second: "1m30s", 500 * time.Millisecond: "500ms", 0: "0s", time.Hour + time.Second: "1h0m1s"} {
		if got := Duration(d).String(); got != want {
			t.Errorf("Duration(%v).String() = %q, want %q", d, got, want)
		}
	}
	for in, want := range map[string]Percent{"30%": 30, "30": 30, "0%": 0, "100%": 100, " 7 % ": 7} {
		if got, err := ParsePercent(in); err != nil || got != want {
			t.Errorf("ParsePercent(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"101%", "-1%", "10.5%", "ten", "%"} {
		if _, err := ParsePercent(bad); err == nil {
			t.Errorf("ParsePercent(%q): no error", bad)
		}
	}
	// Round trip through JSON and YAML as text.
	v := struct {
		D Duration `json:"d" yaml:"d"`
		P Percent  `json:"p" yaml:"p"`
		S Strategy `json:"s" yaml:"s"`
	}{Duration(90 * time.Second), 30, Strategy{Kind: StrategyCanary, Percent: 5, Interval: 10 * time.Minute}}
	j, err := json.Marshal(v)
	if err != nil || string(j) != `{"d":"1m30s","p":"30%","s":"canary 5% for 10m"}` {
		t.Errorf("json: %s %v", j, err)
	}
	var back struct {
		D Duration `json:"d" yaml:"d"`
		P Percent  `json:"p" yaml:"p"`
		S Strategy `json:"s" yaml:"s"`
	}
	if err := json.Unmarshal(j, &back); err != nil || back != v {
		t.Errorf("json round trip: %+v %v", back, err)
	}
	y, err := yaml.Marshal(v)
	if err != nil || !strings.Contains(string(y), "d: 1m30s") || !strings.Contains(string(y), "s: canary 5% for 10m") {
		t.Errorf("yaml: %s %v", y, err)
	}
}

func TestSizeText(t *testing.T) {
	for in, want := range map[string]Size{"0": 0, "1": 1, " 512KiB ": 512 << 10, "32MiB": 32 << 20, "1GiB": 1 << 30,
		"10MB": 10_000_000, "1GB": 1_000_000_000, "1KB": 1000, "7B": 7, "3 MiB": 3 << 20, "+2KiB": 2 << 10} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "MiB", "1.5MiB", "-1KiB", "10M", "10k", "10mb", "ten", "0x10", "9223372036854775807KiB", "99999999999999999999"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q): no error", bad)
		}
	}
	for z, want := range map[Size]string{0: "0", 32 << 20: "32MiB", 1 << 30: "1GiB", 10_000_000: "10MB", 1000: "1KB",
		1024000: "1000KiB", 1500: "1500B", 3 << 30: "3GiB", 2_000_000_000: "2GB"} {
		if got := z.String(); got != want {
			t.Errorf("Size(%d).String() = %q, want %q", int64(z), got, want)
		}
		if back, err := ParseSize(want); err != nil || back != z {
			t.Errorf("ParseSize(%q) = %d, %v; want %d back", want, back, err, int64(z))
		}
	}
	j, err := json.Marshal(struct{ S Size }{32 << 20})
	if err != nil || string(j) != `{"S":"32MiB"}` {
		t.Errorf("json: %s %v", j, err)
	}
}

// TestCheckOptions: the MCP, browser and command options parse, with the
// browser's defaults.
func TestCheckOptions(t *testing.T) {
	c := mustParse(t, minimal+`checks:
  - name: tools
    after_promotion: true
    mcp:
      headers: { X-Api-Key: k }
      tools_list: { min: 2, required: [search_appointments], compare_with_live: breaking-warns }
      call: { tool: search_appointments, arguments: { userId: t1 }, max_latency: 800ms, expect: { content_contains: Dr, structured_content: true, json: { count: 2 } } }
      resources_read: { uri: "ui://widget/appointments.html", mime_type: text/html+skybridge, contains: window.openai }
  - name: widget
    browser: { widget: "ui://widget/appointments.html", tool_output: { count: 1 }, allow_console_errors: ["favicon"] }
  - name: page
    browser: { path: /w, wait_for: "window.ready === true" }
  - name: suite
    command: [sh, -c, "exit 0"]
`, nil)
	m := c.Checks[0]
	if !m.AfterPromotion || m.MCP.Headers["X-Api-Key"] != "k" || m.MCP.ToolsList.CompareWithLive != CompareBreakingWarns {
		t.Errorf("tools: %+v %+v", m, *m.MCP)
	}
	call := m.MCP.Call
	if call.MaxLatency.D() != 800*time.Millisecond || !call.Expect.StructuredContent || call.Expect.ContentContains != "Dr" ||
		!reflect.DeepEqual(call.Expect.JSON, map[string]any{"count": 2}) || call.Arguments["userId"] != "t1" {
		t.Errorf("call: %+v", *call)
	}
	if r := m.MCP.ResourcesRead; r.URI != "ui://widget/appointments.html" || r.MIMEType != "text/html+skybridge" || r.Contains != "window.openai" {
		t.Errorf("resources_read: %+v", *r)
	}
	w := c.Checks[1].Browser
	if w.Widget != "ui://widget/appointments.html" || w.MCPPath != "/mcp" || w.WaitFor != `document.readyState === "complete"` ||
		w.Path != "" || !reflect.DeepEqual(w.AllowConsoleErrors, []string{"favicon"}) || w.ToolOutput["count"] != 1 {
		t.Errorf("widget: %+v", *w)
	}
	if p := c.Checks[2].Browser; p.Path != "/w" || p.WaitFor != "window.ready === true" || c.Checks[2].AfterPromotion {
		t.Errorf("page: %+v", *p)
	}
	if k := c.Checks[3]; k.Kind() != KindCommand || len(k.Command) != 3 {
		t.Errorf("suite: %+v", k)
	}
}

// TestKubernetesDriver: driver.kubernetes decodes with its defaults, an
// inline template stays a mapping, and paths resolve against the file.
func TestKubernetesDriver(t *testing.T) {
	c := mustParse(t, `app: shop
driver:
  kind: kubernetes
  kubernetes:
    kubeconfig: kube/config
    image: shop:{version}
    template:
      spec:
        containers: [{ name: web, image: shop }]
strategy: all-at-once
`, nil)
	k := c.Driver.Kubernetes
	if k.Namespace != "default" || k.Replicas != 2 || k.SlotLabel != "version" || k.MinReady != 100 ||
		k.Traffic != TrafficService || k.Port != 80 || k.Image != "shop:{version}" {
		t.Errorf("driver.kubernetes: %+v", k)
	}
	spec, ok := k.Template["spec"].(map[string]any)
	if !ok || len(spec["containers"].([]any)) != 1 {
		t.Errorf("template: %#v", k.Template)
	}
	if got, want := c.KubeconfigPath(), filepath.Join(c.Dir, "kube/config"); got != want {
		t.Errorf("KubeconfigPath = %q, want %q", got, want)
	}
	if c.ManifestPath() != "" {
		t.Errorf("ManifestPath = %q, want empty", c.ManifestPath())
	}
}

// TestKubernetesGatewayAndIngressClass: driver.kubernetes.gateway and
// ingress_class decode as written, default to "", and must be DNS names
// (the gateway optionally namespace/name); gateway is required in gateway
// mode.
func TestKubernetesGatewayAndIngressClass(t *testing.T) {
	const head = `app: shop
driver:
  kind: kubernetes
  kubernetes:
    image: shop:{version}
    template: { spec: { containers: [{ name: web }] } }
`
	c := mustParse(t, head+"    traffic: gateway\n    gateway: infra/public-gw\n    ingress_class: nginx.internal\n", nil)
	if k := c.Driver.Kubernetes; k.Gateway != "infra/public-gw" || k.IngressClass != "nginx.internal" {
		t.Errorf("gateway %q ingress_class %q", k.Gateway, k.IngressClass)
	}
	c = mustParse(t, head+"    traffic: gateway\n    gateway: public\n", nil)
	if k := c.Driver.Kubernetes; k.Gateway != "public" || k.IngressClass != "" {
		t.Errorf("gateway %q ingress_class %q, want public and none", k.Gateway, k.IngressClass)
	}
	c = mustParse(t, head+"    traffic: ingress-nginx\n", nil)
	if k := c.Driver.Kubernetes; k.Gateway != "" || k.IngressClass != "" {
		t.Errorf("defaults: gateway %q ingress_class %q, want both empty", k.Gateway, k.IngressClass)
	}

	for _, tc := range []struct{ text, want string }{
		{head + "    traffic: gateway\n", "b.yaml:7:5: driver.kubernetes.gateway: required when driver.kubernetes.traffic is gateway: the Gateway the HTTPRoute attaches to, such as `gateway: my-gateway` (in driver.kubernetes.namespace) or `gateway: infra/my-gateway` (namespace/name)"},
		{head + "    traffic: gateway\n    gateway: Public\n", `b.yaml:8:14: driver.kubernetes.gateway: invalid Gateway "Public"`},
		{head + "    traffic: gateway\n    gateway: infra/\n", `driver.kubernetes.gateway: invalid Gateway "infra/"`},
		{head + "    traffic: gateway\n    gateway: a.b/gw\n", `driver.kubernetes.gateway: invalid Gateway "a.b/gw"`},
		{head + "    traffic: gateway\n    gateway: infra/gw/x\n", `driver.kubernetes.gateway: invalid Gateway "infra/gw/x"`},
		{head + "    traffic: ingress-nginx\n    ingress_class: nginx_public\n", `b.yaml:8:20: driver.kubernetes.ingress_class: invalid IngressClass name "nginx_public"`},
		{head + "    traffic: ingress-nginx\n    ingress_class: " + strings.Repeat("a", 254) + "\n", "driver.kubernetes.ingress_class: invalid IngressClass name"},
	} {
		_, err := Parse("b.yaml", []byte(tc.text+"strategy: all-at-once\n"), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\ngot  %v\nwant %q", tc.text[len(head):], err, tc.want)
		}
	}
}
