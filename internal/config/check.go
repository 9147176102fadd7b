package config

// Check is one smoke test run against a slot through the router. Exactly
// one of HTTP, MCP, Browser and Command is set; Kind says which.
type Check struct {
	Name string `yaml:"name"`
	// Slot is the slot the check runs against: idle (default), live, both.
	Slot    CheckSlot `yaml:"slot"`
	Timeout Duration  `yaml:"timeout"` // per attempt; default 10s
	// Retries is how many more attempts a failing check gets.
	Retries int           `yaml:"retries"`
	HTTP    *HTTPCheck    `yaml:"http"`
	MCP     *MCPCheck     `yaml:"mcp"`
	Browser *BrowserCheck `yaml:"browser"`
	// Command is argv of a test suite; it gets TEST_URL of the preview
	// route.
	Command []string `yaml:"command"`
}

// CheckSlot says which slot a check runs against.
type CheckSlot string

// The check slots.
const (
	SlotIdle CheckSlot = "idle"
	SlotLive CheckSlot = "live"
	SlotBoth CheckSlot = "both"
)

// CheckKind names the kind of a check.
type CheckKind string

// The check kinds.
const (
	KindHTTP    CheckKind = "http"
	KindMCP     CheckKind = "mcp"
	KindBrowser CheckKind = "browser"
	KindCommand CheckKind = "command"
)

// Kinds lists the kinds set on c, in a fixed order. A valid check has
// exactly one.
func (c *Check) Kinds() []CheckKind {
	var ks []CheckKind
	if c.HTTP != nil {
		ks = append(ks, KindHTTP)
	}
	if c.MCP != nil {
		ks = append(ks, KindMCP)
	}
	if c.Browser != nil {
		ks = append(ks, KindBrowser)
	}
	if c.Command != nil {
		ks = append(ks, KindCommand)
	}
	return ks
}

// Kind is the check's kind, or "" when it has none or several.
func (c *Check) Kind() CheckKind {
	if ks := c.Kinds(); len(ks) == 1 {
		return ks[0]
	}
	return ""
}

// HTTPCheck sends one request and asserts on the response.
type HTTPCheck struct {
	Method  string            `yaml:"method"` // default GET
	Path    string            `yaml:"path"`
	Headers map[string]string `yaml:"headers"`
	Body    string            `yaml:"body"`
	Expect  HTTPExpect        `yaml:"expect"`
	// MaxLatency fails the check when the response takes longer; 0 means
	// no limit.
	MaxLatency Duration `yaml:"max_latency"`
}

// HTTPExpect is what an HTTP check asserts.
type HTTPExpect struct {
	Status  int               `yaml:"status"` // default 200
	Headers map[string]string `yaml:"headers"`
	// JSON maps a dotted path into the response body (a.b.0.c) to the
	// value expected there. Nested maps are paths too.
	JSON         map[string]any `yaml:"json"`
	BodyContains string         `yaml:"body_contains"`
	BodyRegex    string         `yaml:"body_regex"`
}

// MCPCheck talks to an MCP server over streamable HTTP.
type MCPCheck struct {
	Path      string        `yaml:"path"` // default /mcp
	ToolsList *MCPToolsList `yaml:"tools_list"`
	Call      *MCPCall      `yaml:"call"`
}

// MCPToolsList asserts on tools/list.
type MCPToolsList struct {
	Min      int      `yaml:"min"`
	Required []string `yaml:"required"`
	// CompareWithLive compares the tool schemas with the live slot's.
	CompareWithLive CompareMode `yaml:"compare_with_live"`
}

// CompareMode says what a difference from the live slot does.
type CompareMode string

// The compare_with_live values.
const (
	CompareOff           CompareMode = "off"            // do not compare
	CompareWarn          CompareMode = "warn"           // report differences, pass
	CompareBreakingFails CompareMode = "breaking-fails" // a breaking change fails the check
)

// MCPCall calls one tool and asserts on the result.
type MCPCall struct {
	Tool      string         `yaml:"tool"`
	Arguments map[string]any `yaml:"arguments"`
	Expect    MCPExpect      `yaml:"expect"`
}

// MCPExpect is what a tool call asserts.
type MCPExpect struct {
	// IsError is the expected isError of the result (default false).
	IsError         bool   `yaml:"is_error"`
	ContentContains string `yaml:"content_contains"`
	// JSON maps a dotted path into structuredContent to the expected value.
	JSON map[string]any `yaml:"json"`
}

// BrowserCheck loads a page in a headless browser.
type BrowserCheck struct {
	Path string `yaml:"path"`
	// WaitFor is a JavaScript expression that must become true.
	WaitFor string `yaml:"wait_for"`
}
