package config

import (
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// Bounds of analysis.synthetic.
const (
	// MaxSyntheticRate is the highest rate, in requests per second to each
	// slot.
	MaxSyntheticRate = 100
	// MaxSyntheticRequests bounds the list of requests.
	MaxSyntheticRequests = 32
	// MaxSyntheticTimeout bounds the timeout of one request.
	MaxSyntheticTimeout = time.Minute
	// MaxSyntheticBody bounds a request body.
	MaxSyntheticBody = 64 << 10

	defaultSyntheticRate    = 5
	defaultSyntheticTimeout = 5 * time.Second
)

// SyntheticHeader is the request header that tells an instance a request
// is bluegreen's synthetic traffic (value 1). The router removes it from
// every client request, so an instance can trust it.
const SyntheticHeader = "X-Bluegreen-Synthetic"

// Synthetic is analysis.synthetic: while an analysis window runs, bluegreen
// sends Rate requests per second to each slot (the new and the live one),
// taking Requests in turn, through the router. They are counted apart from
// users' requests: the verdict judges them as their own population, and
// they are in neither the user counts nor bluegreen_requests_total.
type Synthetic struct {
	// Rate is requests per second to each slot (default 5, at most
	// MaxSyntheticRate).
	Rate float64 `yaml:"rate"`
	// Timeout bounds one request (default 5s). A request still waiting for
	// its answer then is cancelled and counted like a client that gave
	// up: status 499, with the timeout as its latency.
	Timeout  Duration           `yaml:"timeout"`
	Requests []SyntheticRequest `yaml:"requests"`
}

func (s *Synthetic) setDefaults() {
	s.Rate = defaultSyntheticRate
	s.Timeout = Duration(defaultSyntheticTimeout)
}

// SyntheticRequest is one request of the synthetic traffic: an HTTP request
// (Path, with Method, Headers, Body), or an MCP call (MCP, with Headers).
type SyntheticRequest struct {
	Method  string            `yaml:"method"` // default GET
	Path    string            `yaml:"path"`
	Headers map[string]string `yaml:"headers"`
	Body    string            `yaml:"body"`
	MCP     *SyntheticMCP     `yaml:"mcp"`
}

func (r *SyntheticRequest) setDefaults() { r.Method = "GET" }

// SyntheticMCP is an MCP call over Streamable HTTP as a raw JSON-RPC POST.
// Per slot, bluegreen first opens a session (initialize, then
// notifications/initialized), keeps it while the traffic runs and ends it
// with DELETE; each turn of this request is then one call.
type SyntheticMCP struct {
	Path string `yaml:"path"` // default /mcp
	// Method is the JSON-RPC method (default tools/call).
	Method string `yaml:"method"`
	// Tool and Arguments make a tools/call.
	Tool      string         `yaml:"tool"`
	Arguments map[string]any `yaml:"arguments"`
	// Params are the params of another method, such as tools/list.
	Params map[string]any `yaml:"params"`
}

func (m *SyntheticMCP) setDefaults() {
	m.Path = "/mcp"
	m.Method = MCPToolsCall
}

// synthetic validates analysis.synthetic.
func (v *validator) synthetic() {
	s := v.c.Analysis.Synthetic
	if s == nil {
		return
	}
	const p = "analysis.synthetic"
	if s.Rate <= 0 || s.Rate > MaxSyntheticRate {
		v.at(p+".rate", "must be above 0 and at most %d (requests per second to each slot), not %s",
			MaxSyntheticRate, strconv.FormatFloat(s.Rate, 'g', -1, 64))
	}
	v.positive(p+".timeout", s.Timeout)
	if s.Timeout.D() > MaxSyntheticTimeout {
		v.at(p+".timeout", "must be at most %s", formatDuration(MaxSyntheticTimeout))
	}
	switch n := len(s.Requests); {
	case n == 0:
		v.missing(p+".requests", []string{p}, "required: at least one request, such as - { path: /health } or - mcp: { tool: search }")
	case n > MaxSyntheticRequests:
		v.at(p+".requests", "%d requests: at most %d", n, MaxSyntheticRequests)
	}
	for i := range s.Requests {
		v.syntheticRequest(p+".requests["+strconv.Itoa(i)+"]", &s.Requests[i])
	}
}

func (v *validator) syntheticRequest(p string, r *SyntheticRequest) {
	for name := range r.Headers {
		switch {
		case !isToken(name):
			v.at(p+".headers."+name, "invalid header name %q", name)
		case textproto.CanonicalMIMEHeaderKey(name) == SyntheticHeader:
			v.at(p+".headers."+name, "is set by bluegreen on every synthetic request")
		}
	}
	if len(r.Body) > MaxSyntheticBody {
		v.at(p+".body", "%d bytes: at most %d", len(r.Body), MaxSyntheticBody)
	}
	m := r.MCP
	if m == nil {
		if !isToken(r.Method) || strings.ToUpper(r.Method) != r.Method {
			v.at(p+".method", "invalid method %q: want an upper-case HTTP method such as GET or POST", r.Method)
		}
		if !strings.HasPrefix(r.Path, "/") {
			if r.Path == "" {
				v.missing(p+".path", []string{p}, "required: the path to request, such as /health (or give mcp: { tool: NAME })")
			} else {
				v.at(p+".path", "must start with /, such as /health")
			}
		}
		return
	}
	for _, key := range []string{"method", "path", "body"} {
		if v.c.src.has(p + "." + key) {
			v.at(p+"."+key, "does not apply to an mcp request: it always POSTs JSON-RPC to mcp.path")
		}
	}
	mp := p + ".mcp"
	if !strings.HasPrefix(m.Path, "/") {
		v.at(mp+".path", "must start with /, such as /mcp")
	}
	switch {
	case !validMCPName(m.Method):
		v.at(mp+".method", "invalid MCP method %q: want a JSON-RPC method such as tools/call or tools/list", m.Method)
	case m.Method == "initialize" || strings.HasPrefix(m.Method, "notifications/"):
		v.at(mp+".method", "%s is sent by bluegreen itself when it opens the session; give the call to measure, such as tools/call", m.Method)
	case m.Method == MCPToolsCall:
		if m.Tool == "" {
			v.missing(mp+".tool", []string{mp}, "required for tools/call: the name of the tool to call")
		} else if !validMCPName(m.Tool) {
			v.at(mp+".tool", "invalid tool name %q: up to 128 characters, no spaces", m.Tool)
		}
		if m.Params != nil {
			v.at(mp+".params", "a tools/call takes tool and arguments, not params")
		}
	default:
		if m.Tool != "" || m.Arguments != nil {
			v.at(mp+".tool", "tool and arguments belong to tools/call, not %s: give params", m.Method)
		}
	}
}
