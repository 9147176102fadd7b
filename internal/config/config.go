package config

import (
	"net/netip"
	"path/filepath"
	"strings"
	"time"
)

// Config is one bluegreen.yaml: one app, its listeners, driver, health
// checks, routing, release strategy, checks, analysis, migrations and
// notifications.
//
// Path-valued fields (State, AdminTokenFile, Routing.PreviewHeader.ValueFile,
// Migrations.Dir, Driver.Process.Dir, Driver.Process.LogDir,
// Driver.Kubernetes.Kubeconfig, Driver.Kubernetes.Manifest) hold the value
// as written (raw). Use the accessors (StatePath, AdminTokenPath,
// PreviewSecretPath, MigrationsDir, ProcessDir, LogDir, KubeconfigPath,
// ManifestPath) for the path resolved
// against Dir, the config file's directory. A relative path is always
// relative to the config file, wherever the value came from (file, env,
// flag).
type Config struct {
	// Dir is the absolute directory of the config file; relative paths are
	// resolved against it. Empty for a Config built in code: paths then
	// resolve against the working directory.
	Dir string `yaml:"-"`
	// File is the config file's name as given to Load or Parse.
	File string `yaml:"-"`

	App           string `yaml:"app"`
	Listen        string `yaml:"listen"`
	PreviewListen string `yaml:"preview_listen"` // empty: no preview listener
	AdminListen   string `yaml:"admin_listen"`
	// ListenTLS, PreviewListenTLS and AdminListenTLS make those listeners
	// HTTPS (and HTTP/2); RedirectListen, when set, answers plain HTTP
	// with a redirect to the production listener's HTTPS.
	ListenTLS        TLS    `yaml:"listen_tls"`
	PreviewListenTLS TLS    `yaml:"preview_listen_tls"`
	AdminListenTLS   TLS    `yaml:"admin_listen_tls"`
	RedirectListen   string `yaml:"redirect_listen"`
	State            string `yaml:"state"` // SQLite file, or postgres://…
	AdminTokenFile   string `yaml:"admin_token_file"`
	// MetricsAuth, when true, makes /metrics require the admin token.
	MetricsAuth bool `yaml:"metrics_auth"`

	Driver         Driver     `yaml:"driver"`
	Health         Health     `yaml:"health"`
	Routing        Routing    `yaml:"routing"`
	Strategy       Strategy   `yaml:"strategy"`
	BakeTime       Duration   `yaml:"bake_time"`
	ScaleDownDelay Duration   `yaml:"scale_down_delay"`
	Checks         []Check    `yaml:"checks"`
	Analysis       Analysis   `yaml:"analysis"`
	Migrations     Migrations `yaml:"migrations"`
	// Releases says what each release (by version label) needs from the
	// schema.
	Releases map[string]Release `yaml:"releases"`
	Notify   []Notify           `yaml:"notify"`
	// Limits bound client connections on the production and preview
	// listeners.
	Limits Limits `yaml:"limits"`
	// Runtime tunes the bluegreen process (its garbage collector).
	Runtime Runtime `yaml:"runtime"`

	// src knows where each key came from, for errors found after decoding.
	src *source
}

// DriverKind selects how releases run.
type DriverKind string

// The driver kinds.
const (
	DriverProcess    DriverKind = "process"
	DriverStatic     DriverKind = "static"
	DriverKubernetes DriverKind = "kubernetes"
	DriverECS        DriverKind = "ecs"
)

// Driver is the `driver` section.
type Driver struct {
	Kind       DriverKind       `yaml:"kind"`
	Process    ProcessDriver    `yaml:"process"`
	Static     StaticDriver     `yaml:"static"`
	Kubernetes KubernetesDriver `yaml:"kubernetes"`
	ECS        ECSDriver        `yaml:"ecs"`
}

// ProcessDriver runs each instance of a release as a local process.
type ProcessDriver struct {
	// Command is argv; {port}, {slot} and {version} are replaced per
	// instance. ${VAR} and ${VAR:-default} are expanded at load.
	Command []string `yaml:"command"`
	// Env is added to each instance's environment; values are expanded at
	// load like Command.
	Env         map[string]string `yaml:"env"`
	Instances   int               `yaml:"instances"`
	StopTimeout Duration          `yaml:"stop_timeout"`
	// Dir is the working directory of the processes (raw; see ProcessDir).
	Dir string `yaml:"dir"`
	// LogDir receives one log file per instance (raw; see LogDir).
	LogDir string `yaml:"log_dir"`
}

// StaticDriver lists backends that run elsewhere; bluegreen only routes.
// Each entry is host:port.
type StaticDriver struct {
	Blue  []string `yaml:"blue"`
	Green []string `yaml:"green"`
}

// KubernetesTraffic is how production traffic reaches the live slot on
// Kubernetes (driver.kubernetes.traffic).
type KubernetesTraffic string

// The Kubernetes traffic modes.
const (
	// TrafficService switches the production Service's selector: instant,
	// all-at-once only.
	TrafficService KubernetesTraffic = "service"
	// TrafficGateway weights a Gateway API HTTPRoute's backendRefs.
	TrafficGateway KubernetesTraffic = "gateway"
	// TrafficIngressNginx moves an ingress-nginx canary Ingress's weight.
	TrafficIngressNginx KubernetesTraffic = "ingress-nginx"
	// TrafficRouter runs bluegreen's own router in front of both slots.
	TrafficRouter KubernetesTraffic = "router"
)

// KubernetesDriver runs each slot's release as a Deployment <app>-<slot>
// with a Service of the same name.
type KubernetesDriver struct {
	// Kubeconfig is a kubeconfig file (raw; see KubeconfigPath). Empty:
	// the in-cluster config when running in a pod, else $KUBECONFIG or
	// ~/.kube/config.
	Kubeconfig string `yaml:"kubeconfig"`
	Namespace  string `yaml:"namespace"`
	// Manifest is a Deployment manifest file whose spec.template is the
	// slots' pod template (raw; see ManifestPath). Exactly one of
	// Manifest and Template is set.
	Manifest string `yaml:"manifest"`
	// Template is the pod template (a Deployment's spec.template) inline.
	Template map[string]any `yaml:"template"`
	// Image is the release's image; {version} and {slot} are replaced.
	Image string `yaml:"image"`
	// Container is the container whose image is set ("" = the first).
	Container string `yaml:"container"`
	Replicas  int    `yaml:"replicas"`
	// SlotLabel is the pod label that says the slot.
	SlotLabel string `yaml:"slot_label"`
	// MinReady is the share of replicas that must be updated, ready and
	// available for the slot to be ready.
	MinReady Percent           `yaml:"min_ready"`
	Traffic  KubernetesTraffic `yaml:"traffic"`
	// Gateway is the Gateway the HTTPRoute attaches to (its parentRef),
	// "name" in Namespace or "namespace/name"; required when Traffic is
	// gateway.
	Gateway string `yaml:"gateway"`
	// IngressClass is the ingressClassName of both Ingresses (traffic
	// ingress-nginx); "" leaves it out, so the cluster's default
	// IngressClass applies.
	IngressClass string `yaml:"ingress_class"`
	// Port is the Services' port and the pods' target port.
	Port int `yaml:"port"`
}

// Health is the `health` section: active checks on every instance.
type Health struct {
	Path               string   `yaml:"path"`
	Interval           Duration `yaml:"interval"`
	Timeout            Duration `yaml:"timeout"`
	HealthyThreshold   int      `yaml:"healthy_threshold"`
	UnhealthyThreshold int      `yaml:"unhealthy_threshold"`
	// MaxPassiveEjection is the share of a slot's instances that may be
	// out of rotation for failed requests (passive checks) alone to take
	// one more out; beyond it an instance leaves only when active checks
	// fail.
	MaxPassiveEjection Percent `yaml:"max_passive_ejection"`
	// ReadyTimeout bounds the waiting_ready phase.
	ReadyTimeout Duration `yaml:"ready_timeout"`
}

// Routing is the `routing` section.
type Routing struct {
	// DrainTimeout is how long in-flight requests and streams on a slot that
	// loses traffic may run before they are cancelled.
	DrainTimeout Duration `yaml:"drain_timeout"`
	Sticky       Sticky   `yaml:"sticky"`
	// Affinity keeps a client on one slot during a weighted split:
	// AffinityCookie (the sticky cookie), AffinityClientIP or AffinityNone.
	Affinity Affinity `yaml:"affinity"`
	// MCPSessions pins Mcp-Session-Id to the slot that issued it.
	MCPSessions bool `yaml:"mcp_sessions"`
	// SessionDrain is how long a slot that lost its traffic waits for its
	// pinned MCP sessions to end before it may scale down; 0 means
	// DrainTimeout (SessionDrainTimeout).
	SessionDrain Duration `yaml:"session_drain"`
	// MCPMetrics counts MCP calls per method, tool and outcome
	// (bluegreen_mcp_requests_total).
	MCPMetrics bool `yaml:"mcp_metrics"`
	// MaxRequestBody is the largest request body the router forwards on
	// the production and preview listeners (413 beyond); 0 means no limit.
	MaxRequestBody Size          `yaml:"max_request_body"`
	PreviewHeader  PreviewHeader `yaml:"preview_header"`
	// ResponseHeaderTimeout bounds the wait for an instance's response
	// headers (504 beyond); 0 means no limit.
	ResponseHeaderTimeout Duration `yaml:"response_header_timeout"`
	// TrustedProxies are the CIDR prefixes (or single addresses) of the
	// proxies in front of bluegreen whose X-Forwarded-* headers are
	// honoured (TrustedProxyPrefixes).
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// TrustedProxyPrefixes is routing.trusted_proxies parsed; a single
// address is a prefix of its full length. Entries that do not parse
// (Validate reports them) are left out.
func (r Routing) TrustedProxyPrefixes() []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range r.TrustedProxies {
		if p, err := parseTrustedProxy(s); err == nil {
			ps = append(ps, p)
		}
	}
	return ps
}

// parseTrustedProxy parses one routing.trusted_proxies entry.
func parseTrustedProxy(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// SessionDrainTimeout is routing.session_drain, or routing.drain_timeout
// when it is 0.
func (r Routing) SessionDrainTimeout() time.Duration {
	if r.SessionDrain > 0 {
		return r.SessionDrain.D()
	}
	return r.DrainTimeout.D()
}

// Affinity is the value of routing.affinity.
type Affinity string

// Affinities.
const (
	AffinityCookie   Affinity = "cookie"
	AffinityClientIP Affinity = "client_ip"
	AffinityNone     Affinity = "none"
)

// Sticky pins a client to a slot with a cookie. An empty Cookie turns
// stickiness off.
type Sticky struct {
	Cookie string   `yaml:"cookie"`
	TTL    Duration `yaml:"ttl"`
}

// PreviewHeader lets a request on the production listener reach the idle
// slot when it carries header Name with the secret in ValueFile. An empty
// Name turns it off.
type PreviewHeader struct {
	Name      string `yaml:"name"`
	ValueFile string `yaml:"value_file"` // raw; see PreviewSecretPath
}

// Analysis is the `analysis` section.
type Analysis struct {
	Interval       Duration       `yaml:"interval"`
	MinRequests    int            `yaml:"min_requests"`
	Rules          []Rule         `yaml:"rules"`
	OnInconclusive OnInconclusive `yaml:"on_inconclusive"`
	// FailureLimit is how many failed windows a deployment tolerates: it
	// rolls back when more fail (0: the first failure rolls back).
	FailureLimit int `yaml:"failure_limit"`
	// ConsecutiveFailures, if above 0, also rolls back after that many
	// failed windows in a row, whatever FailureLimit allows.
	ConsecutiveFailures int `yaml:"consecutive_failures"`
	// Providers are external systems asked about each window besides the
	// router's own measurements (see Provider).
	Providers []Provider `yaml:"providers"`
	// Synthetic, if set, sends requests to both slots while analysis runs,
	// so that apps with little traffic still get samples (see Synthetic).
	Synthetic *Synthetic `yaml:"synthetic"`
}

// OnInconclusive says what happens when analysis has no verdict for too
// long.
type OnInconclusive string

// The on_inconclusive values.
const (
	InconclusivePause  OnInconclusive = "pause"
	InconclusiveExtend OnInconclusive = "extend"
	InconclusiveFail   OnInconclusive = "fail"
)

// Migrations is the `migrations` section.
type Migrations struct {
	Dir string `yaml:"dir"` // raw; see MigrationsDir
	// DatabaseURL is postgres://…, postgresql://… or sqlite:path; empty
	// when the app has no migrations. ${VAR} is expanded at load.
	DatabaseURL string `yaml:"database_url"`
}

// Release is what one release needs from the schema.
type Release struct {
	Requires []string `yaml:"requires"`
}

// Notify is one notification target.
type Notify struct {
	// Webhook receives each event as JSON (with a Slack-compatible text
	// field). ${VAR} is expanded at load.
	Webhook string `yaml:"webhook"`
}

// Path resolves p against the config file's directory. Absolute paths
// and URLs with a scheme (postgres://) are returned unchanged.
func (c *Config) Path(p string) string {
	if p == "" || filepath.IsAbs(p) || strings.Contains(p, "://") {
		return p
	}
	if c.Dir == "" {
		return filepath.Clean(p)
	}
	return filepath.Join(c.Dir, p)
}

// StateIsPostgres reports whether state lives in PostgreSQL.
func (c *Config) StateIsPostgres() bool { return isPostgresURL(c.State) }

// StatePath is the SQLite state file resolved against Dir, or the
// postgres:// URL unchanged.
func (c *Config) StatePath() string { return c.Path(c.State) }

// AdminTokenPath is admin_token_file resolved against Dir.
func (c *Config) AdminTokenPath() string { return c.Path(c.AdminTokenFile) }

// PreviewSecretPath is routing.preview_header.value_file resolved against
// Dir.
func (c *Config) PreviewSecretPath() string { return c.Path(c.Routing.PreviewHeader.ValueFile) }

// MigrationsDir is migrations.dir resolved against Dir.
func (c *Config) MigrationsDir() string { return c.Path(c.Migrations.Dir) }

// ProcessDir is driver.process.dir resolved against Dir: the working
// directory of the release processes.
func (c *Config) ProcessDir() string { return c.Path(c.Driver.Process.Dir) }

// LogDir is driver.process.log_dir resolved against Dir.
func (c *Config) LogDir() string { return c.Path(c.Driver.Process.LogDir) }

// KubeconfigPath is driver.kubernetes.kubeconfig resolved against Dir;
// empty when not set (in-cluster, $KUBECONFIG or ~/.kube/config).
func (c *Config) KubeconfigPath() string { return c.Path(c.Driver.Kubernetes.Kubeconfig) }

// ManifestPath is driver.kubernetes.manifest resolved against Dir; empty
// when not set.
func (c *Config) ManifestPath() string { return c.Path(c.Driver.Kubernetes.Manifest) }

func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}
