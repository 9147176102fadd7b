package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/bluegreen-dev/bluegreen/internal/config"
)

// mcpOnce runs one attempt of an MCP check: connect, then tools_list (and
// the comparison with the live slot), call and resources_read, each adding
// its failures.
func (r *Runner) mcpOnce(ctx context.Context, o Options, c *config.Check) attempt {
	m := c.MCP
	limit := timeout(c)
	actx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()

	endpoint := strings.TrimRight(o.BaseURL, "/") + m.Path
	sess, err := r.mcpConnect(actx, r.client, endpoint, m.Headers)
	if err != nil {
		return failed("%s", r.mcpErr(ctx, actx, limit, "connect to "+endpoint, err))
	}
	defer r.closeSession(sess, endpoint)

	var fails, notes []string
	if tl := m.ToolsList; tl != nil {
		tools, err := listTools(actx, sess)
		if err != nil {
			return failed("%s", r.mcpErr(ctx, actx, limit, "tools/list", err))
		}
		fails = append(fails, checkTools(tools, tl)...)
		f, n := r.compareWithLive(actx, o, c, tools)
		fails, notes = append(fails, f...), append(notes, n...)
	}
	if call := m.Call; call != nil {
		start := r.now()
		res, err := sess.CallTool(actx, &mcp.CallToolParams{Name: call.Tool, Arguments: call.Arguments})
		latency := r.now().Sub(start)
		if err != nil {
			fails = append(fails, r.mcpErr(ctx, actx, limit, "call "+call.Tool, err))
		} else {
			fails = append(fails, checkCall(call, res)...)
			if maxLat := call.MaxLatency.D(); maxLat > 0 && latency > maxLat {
				fails = append(fails, fmt.Sprintf("call %s: latency %s over max %s", call.Tool, roundLatency(latency), call.MaxLatency))
			}
		}
	}
	if rr := m.ResourcesRead; rr != nil {
		res, err := sess.ReadResource(actx, &mcp.ReadResourceParams{URI: rr.URI})
		if err != nil {
			fails = append(fails, r.mcpErr(ctx, actx, limit, "read resource "+rr.URI, err))
		} else {
			fails = append(fails, checkResource(rr, res)...)
		}
	}
	return attempt{reason: strings.Join(fails, "; "), details: strings.Join(notes, "\n")}
}

// mcpConnect opens a client session over Streamable HTTP. It works with
// servers that hand out an Mcp-Session-Id and with stateless ones: the
// SDK's transport sends the session ID back only when it got one.
func (r *Runner) mcpConnect(ctx context.Context, base *http.Client, endpoint string, headers map[string]string) (*mcp.ClientSession, error) {
	hc := base
	if len(headers) > 0 {
		cp := *base
		next := cp.Transport
		if next == nil {
			next = http.DefaultTransport
		}
		cp.Transport = headerTransport{headers: headers, next: next}
		hc = &cp
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "bluegreen-check", Version: "1"}, nil)
	t := &mcp.StreamableClientTransport{
		Endpoint:   endpoint,
		HTTPClient: hc,
		// A check only sends requests and reads their answers.
		DisableStandaloneSSE: true,
		MaxRetries:           -1,
	}
	return client.Connect(ctx, t, nil)
}

// closeSession ends the session (a DELETE for servers with sessions); its
// error says nothing about the release, so it is only logged.
func (r *Runner) closeSession(sess *mcp.ClientSession, endpoint string) {
	if err := sess.Close(); err != nil {
		r.log.Debug("close mcp session", "endpoint", endpoint, "error", err)
	}
}

// mcpErr words an MCP error, naming a timeout as one.
func (r *Runner) mcpErr(ctx, actx context.Context, limit time.Duration, op string, err error) string {
	if ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
		return fmt.Sprintf("%s: no answer within %s", op, config.Duration(limit))
	}
	return fmt.Sprintf("%s: %v", op, err)
}

// listTools reads every page of tools/list.
func listTools(ctx context.Context, sess *mcp.ClientSession) ([]*mcp.Tool, error) {
	var tools []*mcp.Tool
	for t, err := range sess.Tools(ctx, nil) {
		if err != nil {
			return nil, err
		}
		tools = append(tools, t)
	}
	return tools, nil
}

// checkTools asserts the tools/list expectations: how many, which names,
// and that each tool is usable by a model: a name, a description and an
// input schema that is a valid JSON Schema of type object.
func checkTools(tools []*mcp.Tool, want *config.MCPToolsList) []string {
	var fails []string
	if len(tools) < want.Min {
		fails = append(fails, fmt.Sprintf("tools/list has %d tools, want at least %d", len(tools), want.Min))
	}
	names := make([]string, 0, len(tools))
	for _, t := range tools {
		names = append(names, t.Name)
	}
	for _, req := range want.Required {
		if !slices.Contains(names, req) {
			fails = append(fails, fmt.Sprintf("tool %s missing from tools/list (have: %s)", req, strings.Join(names, ", ")))
		}
	}
	for i, t := range tools {
		label := t.Name
		if label == "" {
			label = fmt.Sprintf("#%d", i)
			fails = append(fails, fmt.Sprintf("tool %s has no name", label))
		}
		if strings.TrimSpace(t.Description) == "" {
			fails = append(fails, fmt.Sprintf("tool %s has no description", label))
		}
		if err := validInputSchema(t.InputSchema); err != nil {
			fails = append(fails, fmt.Sprintf("tool %s: inputSchema %v", label, err))
		}
	}
	return fails
}

// validInputSchema says why s is not a JSON Schema of type object.
func validInputSchema(s any) error {
	if s == nil {
		return errors.New("missing")
	}
	data, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	var sch jsonschema.Schema
	if err := json.Unmarshal(data, &sch); err != nil {
		return fmt.Errorf("not a JSON Schema: %w", err)
	}
	if sch.Type != "object" {
		return fmt.Errorf("has type %q, want \"object\"", sch.Type)
	}
	if _, err := sch.Resolve(nil); err != nil {
		return fmt.Errorf("is not a valid JSON Schema: %w", err)
	}
	return nil
}

// compareWithLive lists the live slot's tools and diffs them against
// tools. It returns failures (breaking changes with breaking-fails, or no
// answer from the live slot) and notes for the result's details.
func (r *Runner) compareWithLive(ctx context.Context, o Options, c *config.Check, tools []*mcp.Tool) (fails, notes []string) {
	mode := c.MCP.ToolsList.CompareWithLive
	switch mode {
	case config.CompareOff, "":
		return nil, nil
	case config.CompareWarn, config.CompareBreakingWarns, config.CompareBreakingFails:
	}
	if o.LiveURL == "" || o.LiveURL == o.BaseURL {
		return nil, []string{"compare_with_live: skipped, no other live slot to compare with"}
	}
	endpoint := strings.TrimRight(o.LiveURL, "/") + c.MCP.Path
	client := o.LiveClient
	if client == nil {
		client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	sess, err := r.mcpConnect(ctx, client, endpoint, c.MCP.Headers)
	if err != nil {
		return []string{fmt.Sprintf("compare_with_live: connect to the live slot at %s: %v", endpoint, err)}, nil
	}
	defer r.closeSession(sess, endpoint)
	live, err := listTools(ctx, sess)
	if err != nil {
		return []string{fmt.Sprintf("compare_with_live: tools/list on the live slot: %v", err)}, nil
	}
	d := DiffTools(live, tools)
	if d.Empty() {
		return nil, nil
	}
	if len(d.Breaking) > 0 && mode == config.CompareBreakingFails {
		return []string{d.String()}, nil
	}
	return nil, []string{d.String()}
}

// checkCall asserts a tools/call result.
func checkCall(call *config.MCPCall, res *mcp.CallToolResult) []string {
	want := call.Expect
	text := contentText(res.Content)
	var fails []string
	if res.IsError != want.IsError {
		msg := fmt.Sprintf("call %s: isError %v, want %v", call.Tool, res.IsError, want.IsError)
		if text != "" {
			msg += ": " + cut(text, 200)
		}
		fails = append(fails, msg)
	}
	if want.ContentContains != "" {
		all := text
		if res.StructuredContent != nil {
			if b, err := json.Marshal(res.StructuredContent); err == nil {
				all += "\n" + string(b)
			}
		}
		if !strings.Contains(all, want.ContentContains) {
			fails = append(fails, fmt.Sprintf("call %s: content does not contain %q", call.Tool, want.ContentContains))
		}
	}
	if want.StructuredContent && res.StructuredContent == nil {
		fails = append(fails, fmt.Sprintf("call %s: no structuredContent", call.Tool))
	}
	if len(want.JSON) > 0 {
		var doc []byte
		if res.StructuredContent != nil {
			b, err := json.Marshal(res.StructuredContent)
			if err != nil {
				return append(fails, fmt.Sprintf("call %s: structuredContent: %v", call.Tool, err))
			}
			doc = b
		} else {
			doc = []byte(firstText(res.Content))
		}
		for _, f := range checkJSON(doc, want.JSON) {
			fails = append(fails, fmt.Sprintf("call %s: %s", call.Tool, f))
		}
	}
	return fails
}

// checkResource asserts a resources/read result.
func checkResource(want *config.MCPResourcesRead, res *mcp.ReadResourceResult) []string {
	if len(res.Contents) == 0 {
		return []string{fmt.Sprintf("resource %s has no contents", want.URI)}
	}
	var fails []string
	if want.MIMEType != "" {
		var types []string
		for _, c := range res.Contents {
			types = append(types, c.MIMEType)
		}
		if !slices.Contains(types, want.MIMEType) {
			fails = append(fails, fmt.Sprintf("resource %s has mimeType %q, want %q", want.URI, strings.Join(types, ", "), want.MIMEType))
		}
	}
	if want.Contains != "" && !slices.ContainsFunc(res.Contents, func(c *mcp.ResourceContents) bool { return strings.Contains(c.Text, want.Contains) }) {
		fails = append(fails, fmt.Sprintf("resource %s does not contain %q", want.URI, want.Contains))
	}
	return fails
}

// contentText joins the text of every text content.
func contentText(cs []mcp.Content) string {
	var parts []string
	for _, c := range cs {
		if t, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, t.Text)
		}
	}
	return strings.Join(parts, "\n")
}

func firstText(cs []mcp.Content) string {
	for _, c := range cs {
		if t, ok := c.(*mcp.TextContent); ok {
			return t.Text
		}
	}
	return ""
}

// cut shortens s to n bytes for a reason.
func cut(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// WithHeaders returns a RoundTripper that adds fixed headers to every
// request (a "Host" entry sets the request's host). Checks sent through the
// production listener use it to carry the preview header and its secret.
func WithHeaders(next http.RoundTripper, headers map[string]string) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return headerTransport{headers: headers, next: next}
}

// headerTransport adds fixed headers to every request.
type headerTransport struct {
	headers map[string]string
	next    http.RoundTripper
}

func (t headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	for k, v := range t.headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	return t.next.RoundTrip(req)
}
