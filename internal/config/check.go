package config

// Check is one smoke test run against a slot through the router. Exactly
// one of HTTP, MCP, Browser and Command is set; Kind says which.
type Check struct {
	Name string `yaml:"name"`
	// Slot is the slot the check runs against: idle (default), live, both.
	Slot    CheckSlot `yaml:"slot"`
	Timeout Duration  `yaml:"timeout"` // per attempt; default 10s
	// Retries is how many more attempts a failing check gets.
	Retries int `yaml:"retries"`
	// AfterPromotion runs the check again once the release is live (after
	// the traffic shift); a failure there rolls back.
	AfterPromotion bool          `yaml:"after_promotion"`
	HTTP           *HTTPCheck    `yaml:"http"`
	MCP            *MCPCheck     `yaml:"mcp"`
	Browser        *BrowserCheck `yaml:"browser"`
	// Command is argv of a test suite; it gets TEST_URL of the preview
	// route, BLUEGREEN_SLOT and BLUEGREEN_VERSION. Exit 0 passes.
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

// MCPCheck talks to an MCP server over Streamable HTTP with the official
// SDK's client; it works with servers that use sessions and stateless ones.
type MCPCheck struct {
	Path string `yaml:"path"` // default /mcp
	// Headers are sent with every MCP request (an API key, a Host).
	Headers       map[string]string `yaml:"headers"`
	ToolsList     *MCPToolsList     `yaml:"tools_list"`
	Call          *MCPCall          `yaml:"call"`
	ResourcesRead *MCPResourcesRead `yaml:"resources_read"`
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
	CompareWarn          CompareMode = "warn"           // same as breaking-warns
	CompareBreakingWarns CompareMode = "breaking-warns" // report breaking changes, pass
	CompareBreakingFails CompareMode = "breaking-fails" // a breaking change fails the check
)

// MCPCall calls one tool and asserts on the result.
type MCPCall struct {
	Tool      string         `yaml:"tool"`
	Arguments map[string]any `yaml:"arguments"`
	Expect    MCPExpect      `yaml:"expect"`
	// MaxLatency fails the check when the call takes longer; 0 means no
	// limit.
	MaxLatency Duration `yaml:"max_latency"`
}

// MCPExpect is what a tool call asserts.
type MCPExpect struct {
	// IsError is the expected isError of the result (default false).
	IsError         bool   `yaml:"is_error"`
	ContentContains string `yaml:"content_contains"`
	// StructuredContent requires the result to carry structuredContent.
	StructuredContent bool `yaml:"structured_content"`
	// JSON maps a dotted path into structuredContent (or, when there is
	// none, into the first text content parsed as JSON) to the expected
	// value.
	JSON map[string]any `yaml:"json"`
}

// MCPResourcesRead reads one resource, such as a widget template.
type MCPResourcesRead struct {
	URI string `yaml:"uri"`
	// MIMEType is the expected mimeType of the contents, such as
	// text/html+skybridge for a ChatGPT app widget; "" accepts any.
	MIMEType string `yaml:"mime_type"`
	// Contains must appear in the resource's text.
	Contains string `yaml:"contains"`
}

// BrowserCheck loads a page in headless Chromium: either Path on the slot,
// or the HTML of the MCP resource Widget rendered with a stub
// window.openai.
type BrowserCheck struct {
	Path string `yaml:"path"`
	// Widget is the URI of an MCP resource whose HTML is rendered, such as
	// ui://widget/appointments.html.
	Widget string `yaml:"widget"`
	// MCPPath is the MCP endpoint Widget is read from; default /mcp.
	MCPPath string `yaml:"mcp_path"`
	// ToolOutput is window.openai.toolOutput for a widget.
	ToolOutput map[string]any `yaml:"tool_output"`
	// WaitFor is a JavaScript expression that must become true; default
	// document.readyState === "complete".
	WaitFor string `yaml:"wait_for"`
	// AllowConsoleErrors are regular expressions; a console error or an
	// uncaught exception whose text matches one does not fail the check.
	AllowConsoleErrors []string `yaml:"allow_console_errors"`
}

func (b *BrowserCheck) setDefaults() {
	b.MCPPath = "/mcp"
	b.WaitFor = `document.readyState === "complete"`
}
