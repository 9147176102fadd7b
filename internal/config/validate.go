package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Validate checks the values of c: required keys, ranges, addresses,
// enums and cross-key rules. It returns Errors (every problem) or nil.
// Errors name the file, line and key when c came from Parse, and the
// environment variable when the value came from one.
func (c *Config) Validate() error {
	v := &validator{c: c}
	v.top()
	v.tls()
	v.driver()
	v.health()
	v.routing()
	v.release()
	v.checks()
	v.analysis()
	v.migrations()
	v.notify()
	v.limits()
	v.runtimeSection()
	if len(v.errs) == 0 {
		return nil
	}
	sortErrors(v.errs)
	return v.errs
}

type validator struct {
	c    *Config
	errs Errors
}

// at reports a problem with the value at key.
func (v *validator) at(key, format string, args ...any) {
	v.errs = append(v.errs, v.c.src.locate(key, []string{key}, false, format, args...))
}

// missing reports a required key that is absent, located at the first of
// parents written in the file.
func (v *validator) missing(key string, parents []string, format string, args ...any) {
	v.errs = append(v.errs, v.c.src.locate(key, parents, true, format, args...))
}

func (v *validator) positive(key string, d Duration) {
	if d <= 0 {
		v.at(key, "must be greater than 0s")
	}
}

func (v *validator) notNegative(key string, d Duration) {
	if d < 0 {
		v.at(key, "must not be negative")
	}
}

func (v *validator) top() {
	c := v.c
	switch {
	case c.App == "":
		v.missing("app", nil, "required: name the app, such as `app: shop`")
	case !validApp(c.App):
		v.at("app", "invalid app name %q: use 1 to 63 letters, digits, '.', '-' or '_', starting with a letter or digit", c.App)
	}
	addrs := []struct {
		key, val string
		required bool
	}{
		{"listen", c.Listen, true},
		{"preview_listen", c.PreviewListen, false},
		{"admin_listen", c.AdminListen, true},
	}
	seen := map[string]string{}
	for _, a := range addrs {
		if a.val == "" {
			if a.required {
				v.missing(a.key, nil, "required: an address such as 127.0.0.1:8080")
			}
			continue
		}
		if err := checkListen(a.val); err != nil {
			v.at(a.key, "%v", err)
			continue
		}
		if _, port, _ := net.SplitHostPort(a.val); port == "0" {
			continue
		}
		if other, dup := seen[a.val]; dup {
			v.at(a.key, "same address as %s (%s); each listener needs its own", other, a.val)
			continue
		}
		seen[a.val] = a.key
	}
	if c.State == "" {
		v.missing("state", nil, "required: a SQLite file such as .bluegreen/state.db, or a postgres:// URL")
	}
	if c.AdminTokenFile == "" {
		v.missing("admin_token_file", nil, "required: a file holding the admin token, such as .bluegreen/admin.token")
	}
}

func (v *validator) driver() {
	d := v.c.Driver
	p := d.Process
	switch d.Kind {
	case DriverProcess:
		if len(p.Command) == 0 {
			v.missing("driver.process.command", []string{"driver.process", "driver.kind", "driver"},
				"required when driver.kind is process (the default): the release's argv, such as [\"./bin/app\", \"--listen\", \"127.0.0.1:{port}\"]; or set driver.kind: static")
		} else if p.Command[0] == "" {
			v.at("driver.process.command[0]", "the program must not be empty")
		}
	case DriverStatic:
		for _, slot := range []struct {
			key   string
			addrs []string
		}{{"driver.static.blue", d.Static.Blue}, {"driver.static.green", d.Static.Green}} {
			if len(slot.addrs) == 0 {
				v.missing(slot.key, []string{"driver.static", "driver.kind", "driver"},
					"required when driver.kind is static: a list of host:port backends, such as [\"127.0.0.1:3001\"]")
			}
		}
	case DriverKubernetes:
		v.kubernetes()
	case DriverECS:
		v.ecs()
	default:
		v.at("driver.kind", "unknown driver %q: want process, static, kubernetes or ecs", d.Kind)
	}
	if p.Instances < 1 {
		v.at("driver.process.instances", "must be at least 1, not %d", p.Instances)
	}
	v.positive("driver.process.stop_timeout", p.StopTimeout)
	if p.Dir == "" {
		v.at("driver.process.dir", "must not be empty; use . for the config file's directory")
	}
	if p.LogDir == "" {
		v.at("driver.process.log_dir", "must not be empty, such as .bluegreen/logs")
	}
	for name := range p.Env {
		if name == "" || strings.ContainsAny(name, "=\x00") {
			v.at("driver.process.env."+name, "invalid environment variable name %q", name)
		}
	}
	seen := map[string]string{}
	for _, slot := range []struct {
		key   string
		addrs []string
	}{{"driver.static.blue", d.Static.Blue}, {"driver.static.green", d.Static.Green}} {
		for i, a := range slot.addrs {
			key := slot.key + "[" + strconv.Itoa(i) + "]"
			if err := checkBackend(a); err != nil {
				v.at(key, "%v", err)
				continue
			}
			if other, dup := seen[a]; dup {
				v.at(key, "backend %s is also %s; a backend belongs to one slot", a, other)
				continue
			}
			seen[a] = key
		}
	}
}

// kubeName is a DNS-1123 label, the rule for Deployment, Service and
// namespace names.
var kubeName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// kubeSubdomain is a DNS-1123 subdomain (at most 253 characters), the rule
// for Gateway and IngressClass names.
var kubeSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

func validSubdomain(s string) bool { return len(s) <= 253 && kubeSubdomain.MatchString(s) }

// kubeLabelKey is a label key: an optional DNS prefix and a name.
var kubeLabelKey = regexp.MustCompile(`^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)

// kubernetes checks driver.kubernetes when it is the driver.
func (v *validator) kubernetes() {
	k := v.c.Driver.Kubernetes
	parents := []string{"driver.kubernetes", "driver.kind", "driver"}
	if app := v.c.App; app != "" && validApp(app) && (!kubeName.MatchString(app) || len(app) > 57) {
		v.at("app", "invalid app name %q for driver.kind kubernetes: the Deployments and Services are named <app>-blue and <app>-green, so use at most 57 lowercase letters, digits and '-', starting and ending with a letter or digit", app)
	}
	if !kubeName.MatchString(k.Namespace) || len(k.Namespace) > 63 {
		v.at("driver.kubernetes.namespace", "invalid namespace %q: use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit", k.Namespace)
	}
	switch {
	case k.Manifest == "" && len(k.Template) == 0:
		v.missing("driver.kubernetes.manifest", parents,
			"required when driver.kind is kubernetes: a Deployment manifest file whose spec.template is the pod template, or driver.kubernetes.template with that template inline")
	case k.Manifest != "" && len(k.Template) > 0:
		v.at("driver.kubernetes.template", "set either driver.kubernetes.manifest or driver.kubernetes.template, not both")
	}
	if k.Image == "" {
		v.missing("driver.kubernetes.image", parents,
			"required when driver.kind is kubernetes: the release's image, such as registry.example.com/shop:{version}")
	}
	if k.Replicas < 1 {
		v.at("driver.kubernetes.replicas", "must be at least 1, not %d", k.Replicas)
	}
	if len(k.SlotLabel) > 316 || !kubeLabelKey.MatchString(k.SlotLabel) {
		v.at("driver.kubernetes.slot_label", "invalid label key %q: want a name such as version or example.com/slot", k.SlotLabel)
	}
	if k.MinReady < 1 || k.MinReady > 100 {
		v.at("driver.kubernetes.min_ready", "must be from 1%% to 100%%, not %d%%", int(k.MinReady))
	}
	if k.Port < 1 || k.Port > 65535 {
		v.at("driver.kubernetes.port", "must be a port from 1 to 65535, not %d", k.Port)
	}
	if g := k.Gateway; g != "" {
		ns, name, cut := strings.Cut(g, "/")
		if !cut {
			ns, name = "", g
		}
		if (cut && (!kubeName.MatchString(ns) || len(ns) > 63)) || !validSubdomain(name) {
			v.at("driver.kubernetes.gateway", "invalid Gateway %q: want its name, such as my-gateway, or namespace/name, such as infra/my-gateway, in lowercase letters, digits, '-' and '.'", g)
		}
	}
	if c := k.IngressClass; c != "" && !validSubdomain(c) {
		v.at("driver.kubernetes.ingress_class", "invalid IngressClass name %q: want a DNS name such as nginx, in lowercase letters, digits, '-' and '.'", c)
	}
	switch k.Traffic {
	case TrafficService:
		if st := v.c.Strategy; st.Kind != StrategyAllAtOnce {
			const msg = "traffic service switches the Service's selector and cannot weight traffic, so it needs strategy: all-at-once, not %s; for a gradual shift use driver.kubernetes.traffic gateway, ingress-nginx or router"
			if v.c.src.has("strategy") {
				v.at("strategy", msg, st.Kind)
			} else {
				// The default strategy (linear) is the problem: say so where the mode is.
				v.missing("driver.kubernetes.traffic", []string{"driver.kubernetes.traffic", "driver.kubernetes", "driver.kind"}, msg+" (the default strategy)", st.Kind)
			}
		}
	case TrafficGateway:
		if k.Gateway == "" {
			v.missing("driver.kubernetes.gateway", []string{"driver.kubernetes.traffic", "driver.kubernetes", "driver.kind"},
				"required when driver.kubernetes.traffic is gateway: the Gateway the HTTPRoute attaches to, such as `gateway: my-gateway` (in driver.kubernetes.namespace) or `gateway: infra/my-gateway` (namespace/name)")
		}
	case TrafficIngressNginx:
	case TrafficRouter:
	default:
		v.at("driver.kubernetes.traffic", "unknown traffic mode %q: want service, gateway, ingress-nginx or router", k.Traffic)
	}
}

func (v *validator) health() {
	h := v.c.Health
	if !strings.HasPrefix(h.Path, "/") {
		v.at("health.path", "must start with /, such as /health")
	}
	v.positive("health.interval", h.Interval)
	v.positive("health.timeout", h.Timeout)
	v.positive("health.ready_timeout", h.ReadyTimeout)
	if h.HealthyThreshold < 1 {
		v.at("health.healthy_threshold", "must be at least 1, not %d", h.HealthyThreshold)
	}
	if h.UnhealthyThreshold < 1 {
		v.at("health.unhealthy_threshold", "must be at least 1, not %d", h.UnhealthyThreshold)
	}
	if h.MaxPassiveEjection < 0 || h.MaxPassiveEjection > 100 {
		v.at("health.max_passive_ejection", "must be from 0%% to 100%%, not %d%%", int(h.MaxPassiveEjection))
	}
}

func (v *validator) routing() {
	r := v.c.Routing
	v.positive("routing.drain_timeout", r.DrainTimeout)
	v.notNegative("routing.session_drain", r.SessionDrain)
	v.notNegative("routing.response_header_timeout", r.ResponseHeaderTimeout)
	if r.MaxRequestBody < 0 {
		v.at("routing.max_request_body", "must not be negative (0 means no limit), not %d bytes", int64(r.MaxRequestBody))
	}
	for i, tp := range r.TrustedProxies {
		if _, err := parseTrustedProxy(tp); err != nil {
			v.at(fmt.Sprintf("routing.trusted_proxies[%d]", i), "invalid CIDR prefix or IP address %q: write one like 10.0.0.0/8, 192.168.1.7 or fd00::/8", tp)
		}
	}
	switch r.Affinity {
	case AffinityCookie, AffinityClientIP, AffinityNone:
	default:
		v.at("routing.affinity", "unknown value %q: want cookie (the sticky cookie), client_ip or none", r.Affinity)
	}
	if r.Sticky.Cookie != "" {
		if !isToken(r.Sticky.Cookie) {
			v.at("routing.sticky.cookie", "invalid cookie name %q: use letters, digits, '-' and '_'", r.Sticky.Cookie)
		}
		if r.Sticky.TTL < Duration(time.Second) {
			v.at("routing.sticky.ttl", "must be at least 1s (the cookie's Max-Age is in seconds), not %s", r.Sticky.TTL)
		}
	}
	if r.PreviewHeader.Name != "" {
		if !isToken(r.PreviewHeader.Name) {
			v.at("routing.preview_header.name", "invalid header name %q: use letters, digits and '-'", r.PreviewHeader.Name)
		}
		if r.PreviewHeader.ValueFile == "" {
			v.missing("routing.preview_header.value_file", []string{"routing.preview_header"},
				"required when routing.preview_header.name is set: the file holding the secret (the preview route is never open without one)")
		}
	}
}

// release checks the strategy and the timings after it.
func (v *validator) release() {
	if err := v.c.Strategy.check(); err != nil {
		v.at("strategy", "%v", err)
	}
	v.notNegative("bake_time", v.c.BakeTime)
	v.notNegative("scale_down_delay", v.c.ScaleDownDelay)
}

func (v *validator) checks() {
	first := map[string]int{}
	for i := range v.c.Checks {
		ch := &v.c.Checks[i]
		p := "checks[" + strconv.Itoa(i) + "]"
		switch j, dup := first[ch.Name]; {
		case ch.Name == "":
			v.missing(p+".name", []string{p}, "required: every check needs a name")
		case dup:
			v.at(p+".name", "duplicate check name %q (also checks[%d]); names must be unique", ch.Name, j)
		default:
			first[ch.Name] = i
		}
		switch ch.Slot {
		case SlotIdle, SlotLive, SlotBoth:
		default:
			v.at(p+".slot", "unknown slot %q: want idle, live or both", ch.Slot)
		}
		v.positive(p+".timeout", ch.Timeout)
		if ch.Retries < 0 {
			v.at(p+".retries", "must not be negative, not %d", ch.Retries)
		}
		switch ks := ch.Kinds(); len(ks) {
		case 0:
			v.at(p, "check %q has no kind: give it one of http, mcp, browser or command", ch.Name)
		case 1:
		default:
			v.at(p, "check %q has several kinds (%s): give it exactly one", ch.Name, joinKinds(ks))
		}
		if h := ch.HTTP; h != nil {
			v.httpCheck(p+".http", h)
		}
		if m := ch.MCP; m != nil {
			v.mcpCheck(p+".mcp", m)
		}
		if b := ch.Browser; b != nil {
			v.browserCheck(p+".browser", b)
		}
		if ch.Command != nil && (len(ch.Command) == 0 || ch.Command[0] == "") {
			v.at(p+".command", "needs a program, such as [\"npx\", \"playwright\", \"test\"]")
		}
	}
}

func (v *validator) httpCheck(p string, h *HTTPCheck) {
	if !isToken(h.Method) || strings.ToUpper(h.Method) != h.Method {
		v.at(p+".method", "invalid method %q: want an upper-case HTTP method such as GET or POST", h.Method)
	}
	if !strings.HasPrefix(h.Path, "/") {
		v.at(p+".path", "must start with /, such as /health")
	}
	for name := range h.Headers {
		if !isToken(name) {
			v.at(p+".headers."+name, "invalid header name %q", name)
		}
	}
	e := h.Expect
	if e.Status < 100 || e.Status > 599 {
		v.at(p+".expect.status", "invalid status %d: want 100 to 599", e.Status)
	}
	for name := range e.Headers {
		if !isToken(name) {
			v.at(p+".expect.headers."+name, "invalid header name %q", name)
		}
	}
	if e.BodyRegex != "" {
		if _, err := regexp.Compile(e.BodyRegex); err != nil {
			v.at(p+".expect.body_regex", "invalid regular expression: %v", err)
		}
	}
	v.notNegative(p+".max_latency", h.MaxLatency)
}

func (v *validator) mcpCheck(p string, m *MCPCheck) {
	if !strings.HasPrefix(m.Path, "/") {
		v.at(p+".path", "must start with /, such as /mcp")
	}
	if t := m.ToolsList; t != nil {
		if t.Min < 0 {
			v.at(p+".tools_list.min", "must not be negative, not %d", t.Min)
		}
		switch t.CompareWithLive {
		case CompareOff, CompareWarn, CompareBreakingWarns, CompareBreakingFails:
		default:
			v.at(p+".tools_list.compare_with_live", "unknown mode %q: want off, breaking-warns or breaking-fails", t.CompareWithLive)
		}
	}
	for name := range m.Headers {
		if !isToken(name) {
			v.at(p+".headers."+name, "invalid header name %q", name)
		}
	}
	if c := m.Call; c != nil {
		if c.Tool == "" {
			v.missing(p+".call.tool", []string{p + ".call"}, "required: the name of the tool to call")
		}
		v.notNegative(p+".call.max_latency", c.MaxLatency)
	}
	if r := m.ResourcesRead; r != nil && r.URI == "" {
		v.missing(p+".resources_read.uri", []string{p + ".resources_read"}, "required: the URI of the resource to read, such as ui://widget/main.html")
	}
	if m.ToolsList == nil && m.Call == nil && m.ResourcesRead == nil {
		v.missing(p+".tools_list", []string{p}, "an mcp check needs tools_list, call, resources_read or several")
	}
}

func (v *validator) browserCheck(p string, b *BrowserCheck) {
	switch {
	case b.Path != "" && b.Widget != "":
		v.at(p+".widget", "give path or widget, not both")
	case b.Widget != "":
		if !strings.HasPrefix(b.MCPPath, "/") {
			v.at(p+".mcp_path", "must start with /, such as /mcp")
		}
	case !strings.HasPrefix(b.Path, "/"):
		v.at(p+".path", "must start with /, such as /widget-test (or give widget: an MCP resource URI)")
	}
	if strings.TrimSpace(b.WaitFor) == "" {
		v.at(p+".wait_for", "must not be empty: a JavaScript expression that becomes true, such as window.ready === true")
	}
	for i, re := range b.AllowConsoleErrors {
		if _, err := regexp.Compile(re); err != nil {
			v.at(p+".allow_console_errors["+strconv.Itoa(i)+"]", "invalid regular expression: %v", err)
		}
	}
}

// hasProvider reports whether one of the analysis providers is of kind k.
func (a *Analysis) hasProvider(k ProviderKind) bool {
	for _, p := range a.Providers {
		if p.Kind() == k {
			return true
		}
	}
	return false
}

func (v *validator) analysis() {
	a := v.c.Analysis
	v.positive("analysis.interval", a.Interval)
	if a.MinRequests < 1 {
		v.at("analysis.min_requests", "must be at least 1, not %d (analysis never passes on no data)", a.MinRequests)
	}
	if v.c.Driver.Kind == DriverECS && v.c.AnalysisConfigured() && a.Synthetic != nil {
		v.at("analysis.synthetic", "with driver.kind ecs the slots' tasks are behind the load balancer, not bluegreen's router, "+
			"so synthetic requests would reach no instance: remove it and judge the release with a cloudwatch provider (docs/ecs.md)")
	}
	if v.c.Driver.Kind == DriverECS && v.c.AnalysisConfigured() && len(a.Rules) > 0 && !a.hasProvider(ProviderCloudWatch) {
		v.at("analysis.rules", "with driver.kind ecs production traffic goes through the load balancer, "+
			"not bluegreen's router, so these rules would never see a request: add an analysis.providers entry "+
			"with cloudwatch: {…} to judge them on the target groups' CloudWatch metrics (docs/ecs.md)")
	}
	for i, r := range a.Rules {
		p := "analysis.rules[" + strconv.Itoa(i) + "]"
		unit := r.Metric.Unit()
		if unit == "" {
			v.at(p+".metric", "unknown metric %q: want one of %s", r.Metric, joinMetrics())
			continue
		}
		if r.Max == nil && r.Min == nil && r.MaxRatioToLive == 0 && r.Compare == CompareNone {
			v.at(p, "rule on %s has no bound: give it max, min or max_ratio_to_live", r.Metric)
		}
		switch r.Compare {
		case CompareNone:
		case CompareStatistical:
			if unit != UnitSeconds {
				v.at(p+".compare", "statistical applies to latency metrics, not %s", r.Metric)
			}
		default:
			v.at(p+".compare", "unknown value %q: want statistical", r.Compare)
		}
		for _, l := range []struct {
			key string
			lim *Limit
		}{{"max", r.Max}, {"min", r.Min}} {
			if l.lim == nil {
				continue
			}
			switch unit {
			case UnitRatio:
				if l.lim.Value < 0 || l.lim.Value > 1 {
					v.at(p+"."+l.key, "must be from 0%% to 100%%")
				}
			case UnitSeconds:
				if l.lim.Value < 0 {
					v.at(p+"."+l.key, "must not be negative")
				}
			}
		}
		if r.Max != nil && r.Min != nil && r.Min.Value > r.Max.Value {
			v.at(p+".min", "is above max")
		}
		if r.MaxRatioToLive < 0 {
			v.at(p+".max_ratio_to_live", "must be greater than 0")
		}
	}
	if a.FailureLimit < 0 {
		v.at("analysis.failure_limit", "must not be negative, not %d", a.FailureLimit)
	}
	if a.ConsecutiveFailures < 0 {
		v.at("analysis.consecutive_failures", "must not be negative, not %d (0 turns it off)", a.ConsecutiveFailures)
	}
	switch a.OnInconclusive {
	case InconclusivePause, InconclusiveExtend, InconclusiveFail:
	default:
		v.at("analysis.on_inconclusive", "unknown value %q: want pause, extend or fail", a.OnInconclusive)
	}
	v.ruleFilters()
	v.providers()
	v.synthetic()
}

func (v *validator) migrations() {
	m := v.c.Migrations
	if m.Dir == "" {
		v.at("migrations.dir", "must not be empty, such as migrations")
	}
	if u := m.DatabaseURL; u != "" && !isPostgresURL(u) && !strings.HasPrefix(u, "sqlite:") {
		scheme, _, _ := strings.Cut(u, ":")
		// The URL may hold a password: name only its scheme.
		v.at("migrations.database_url", "unsupported database URL (scheme %q): want postgres://…, postgresql://… or sqlite:path", scheme)
	}
	for name, r := range v.c.Releases {
		for i, req := range r.Requires {
			if strings.TrimSpace(req) == "" {
				v.at("releases."+name+".requires["+strconv.Itoa(i)+"]", "empty migration name")
			}
		}
	}
}

func (v *validator) notify() {
	for i, n := range v.c.Notify {
		p := "notify[" + strconv.Itoa(i) + "]"
		if n.Webhook == "" {
			v.missing(p+".webhook", []string{p}, "required: the URL that receives events")
			continue
		}
		u, err := url.Parse(n.Webhook)
		// The URL may hold a token: do not echo it.
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.at(p+".webhook", "want an http:// or https:// URL")
		}
	}
}

// checkListen accepts host:port with an optional host and a port 0..65535.
func checkListen(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("invalid address %q: want host:port, such as 127.0.0.1:8080", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("invalid port in %q: want 0 to 65535", s)
	}
	if strings.ContainsAny(host, " /") {
		return fmt.Errorf("invalid host in %q", s)
	}
	return nil
}

// checkBackend accepts host:port with a host and a port 1..65535.
func checkBackend(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" || strings.ContainsAny(host, " /") {
		return fmt.Errorf("invalid backend %q: want host:port, such as 127.0.0.1:3001", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("invalid port in backend %q: want 1 to 65535", s)
	}
	return nil
}

func validApp(s string) bool {
	if len(s) > 63 {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case (r == '.' || r == '-' || r == '_') && i > 0:
		default:
			return false
		}
	}
	return s != ""
}

// isToken reports whether s is an HTTP token (header, method or cookie
// name).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r > 0x7e || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}

func joinKinds(ks []CheckKind) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

func joinMetrics() string {
	ms := Metrics()
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = string(m)
	}
	return strings.Join(s, ", ")
}
