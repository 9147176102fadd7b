package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/bluegreen-dev/bluegreen/internal/config"
)

// chromiumFlags are the flags Chromium needs to start headless, fast and
// without reaching out to the network (without them it hangs on a
// machine with no internet). chromedp adds a fresh --user-data-dir and
// removes it when the browser exits.
func chromiumFlags() []string {
	return []string{
		"headless", "no-sandbox", "disable-gpu", "disable-quic", "no-first-run",
		"disable-background-networking", "disable-component-update", "disable-sync",
		"no-default-browser-check", "disable-dev-shm-usage", "mute-audio", "hide-scrollbars",
	}
}

// errPageProblem ends the wait for wait_for when the page has failed.
var errPageProblem = errors.New("the page failed")

// FindChromium returns the browser executable: path when it is set,
// otherwise the first of chromium, chromium-browser, google-chrome on PATH.
func FindChromium(path string) (string, error) {
	if path != "" {
		return exec.LookPath(path)
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no chromium on PATH: install it (Debian: apt-get install chromium) or set its path")
}

// browserOnce loads the page (or the rendered widget) in a fresh headless
// Chromium, waits for wait_for to be true, and fails on a timeout, an
// uncaught exception or a console error not allowed. On failure it saves
// a screenshot into opts.ArtifactsDir.
func (r *Runner) browserOnce(ctx context.Context, o Options, i int) attempt {
	c := &r.checks[i]
	b := c.Browser
	limit := timeout(c)
	allow, err := compileAll(b.AllowConsoleErrors)
	if err != nil {
		return failed("invalid allow_console_errors: %v", err)
	}
	exe, err := FindChromium(o.Chromium)
	if err != nil {
		return failed("browser check needs Chromium: %v", err)
	}

	// Everything, browser start and screenshot included, stays within the
	// timeout plus a grace for the start and the screenshot.
	octx, cancel := context.WithTimeout(ctx, limit+15*time.Second)
	defer cancel()

	target := strings.TrimRight(o.BaseURL, "/") + b.Path
	var stub string
	if b.Widget != "" {
		html, err := r.widgetHTML(octx, o, c)
		if err != nil {
			return failed("%v", err)
		}
		url, stop, err := serveWidget(html)
		if err != nil {
			return failed("serve widget %s: %v", b.Widget, err)
		}
		defer func() {
			if err := stop(); err != nil {
				r.log.Debug("stop widget server", "check", c.Name, "error", err)
			}
		}()
		target = url
		stub, err = openaiStub(b.ToolOutput)
		if err != nil {
			return failed("tool_output: %v", err)
		}
	}

	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(exe)}
	for _, f := range chromiumFlags() {
		opts = append(opts, chromedp.Flag(f, true))
	}
	opts = append(opts, chromedp.WindowSize(1024, 768))
	actx, cancelAlloc := chromedp.NewExecAllocator(octx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()

	// The first Run starts the browser; it must not carry a shorter
	// timeout than the browser's life.
	if err := chromedp.Do(bctx); err != nil {
		return failed("start chromium %s: %v", exe, err)
	}
	// The first problem ends the wait: the check has failed already.
	pctx, stopWait := context.WithCancelCause(bctx)
	defer stopWait(nil)
	var mu sync.Mutex
	var problems []string
	if err := chromedp.Listen(bctx, func(ev any) {
		text := consoleProblem(ev)
		if text == "" || matchesAny(allow, text) {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if len(problems) < 20 {
			problems = append(problems, text)
		}
		stopWait(errPageProblem)
	}); err != nil {
		return failed("listen to the browser console: %v", err)
	}
	steps := []chromedp.Action[chromedp.Void]{}
	if stub != "" {
		steps = append(steps, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: stub})
			return err
		}))
	}
	if len(o.BrowserHeaders) > 0 && b.Widget == "" {
		h := network.Headers{}
		for k, v := range o.BrowserHeaders {
			h[k] = v
		}
		steps = append(steps, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: h})
			return err
		}))
	}
	steps = append(steps, chromedp.Navigate(target))

	wctx, cancelWait := context.WithTimeout(pctx, limit)
	defer cancelWait()
	var fails []string
	err = chromedp.Do(wctx, steps...)
	if err == nil {
		_, err = chromedp.Run(wctx, chromedp.Poll[chromedp.Void](b.WaitFor, chromedp.WithPollingTimeout(0), chromedp.WithPollingInterval(50*time.Millisecond)))
	}
	switch {
	case err == nil:
	case ctx.Err() != nil:
		fails = append(fails, fmt.Sprintf("stopped: %v", context.Cause(ctx)))
	case errors.Is(context.Cause(pctx), errPageProblem):
		// the problems below say why
	case errors.Is(wctx.Err(), context.DeadlineExceeded):
		fails = append(fails, fmt.Sprintf("wait_for %q not true within %s", b.WaitFor, config.Duration(limit)))
	default:
		fails = append(fails, fmt.Sprintf("load %s: %v", target, err))
	}
	// A round trip after the wait: every console event sent before it has
	// reached the listener when it returns.
	calls := ""
	rctx, cancelRT := context.WithTimeout(bctx, 5*time.Second)
	defer cancelRT()
	if stub != "" {
		if v, err := chromedp.Run(rctx, chromedp.Evaluate[string]("JSON.stringify(window.__openaiCalls || [])")); err == nil && v != "[]" {
			calls = "window.openai calls: " + cut(v, 500)
		}
	} else if _, err := chromedp.Run(rctx, chromedp.Evaluate[chromedp.Void]("0")); err != nil {
		r.log.Debug("browser round trip", "check", c.Name, "error", err)
	}
	mu.Lock()
	fails = append(fails, problems...)
	mu.Unlock()

	if len(fails) == 0 {
		return attempt{details: calls}
	}
	a := attempt{reason: strings.Join(fails, "; ")}
	if calls != "" {
		a.reason += "; " + calls
	}
	sctx, cancelShot := context.WithTimeout(bctx, 10*time.Second)
	defer cancelShot()
	shot, err := r.screenshot(sctx, o, c)
	switch {
	case err != nil:
		a.reason += fmt.Sprintf("; no screenshot: %v", err)
	case shot != "":
		a.reason += "; screenshot " + shot
		a.artifacts = []string{shot}
	}
	return a
}

// screenshot saves the viewport as PNG into o.ArtifactsDir; "" when there
// is no such directory.
func (r *Runner) screenshot(ctx context.Context, o Options, c *config.Check) (string, error) {
	if o.ArtifactsDir == "" {
		return "", nil
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		return "", fmt.Errorf("capture: %w", err)
	}
	if err := os.MkdirAll(o.ArtifactsDir, 0o755); err != nil {
		return "", err
	}
	name := fmt.Sprintf("%s-%s.png", safeName(c.Name), r.now().UTC().Format("20060102T150405.000"))
	path := filepath.Join(o.ArtifactsDir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		return "", err
	}
	return path, nil
}

// widgetHTML reads the widget resource through the slot's MCP endpoint.
func (r *Runner) widgetHTML(ctx context.Context, o Options, c *config.Check) (string, error) {
	b := c.Browser
	endpoint := strings.TrimRight(o.BaseURL, "/") + b.MCPPath
	sess, err := r.mcpConnect(ctx, r.client, endpoint, nil)
	if err != nil {
		return "", fmt.Errorf("read widget %s: connect to %s: %w", b.Widget, endpoint, err)
	}
	defer r.closeSession(sess, endpoint)
	res, err := sess.ReadResource(ctx, &mcp.ReadResourceParams{URI: b.Widget})
	if err != nil {
		return "", fmt.Errorf("read widget %s: %w", b.Widget, err)
	}
	for _, rc := range res.Contents {
		if rc.Text != "" {
			return rc.Text, nil
		}
	}
	return "", fmt.Errorf("read widget %s: no text contents", b.Widget)
}

// serveWidget serves html on a loopback port until stop is called, so the
// widget runs in a real origin as it would in its sandbox.
func serveWidget(html string) (url string, stop func() error, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.URL.Path != "/" {
				http.NotFound(w, req)
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte(html)) // the browser going away is not the widget's fault
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	return "http://" + ln.Addr().String() + "/", func() error {
		err := srv.Close()
		if serr := <-done; !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
		return err
	}, nil
}

// openaiStub is the script that defines window.openai before the widget's
// own scripts run: the globals a ChatGPT widget reads and the methods it
// calls, each call recorded in window.__openaiCalls.
func openaiStub(toolOutput map[string]any) (string, error) {
	out := []byte("null")
	if toolOutput != nil {
		b, err := json.Marshal(toolOutput)
		if err != nil {
			return "", err
		}
		out = b
	}
	return `(() => {
  const calls = [];
  window.__openaiCalls = calls;
  const record = (method, args) => { calls.push({method, args: JSON.parse(JSON.stringify(args ?? null))}); };
  window.openai = {
    toolInput: {}, toolOutput: ` + string(out) + `, toolResponseMetadata: null, widgetState: null,
    theme: "light", displayMode: "inline", maxHeight: 600, locale: "en-US", userAgent: {device: {type: "desktop"}, capabilities: {hover: true, touch: false}},
    callTool: async (name, args) => { record("callTool", {name, args}); return {content: [], structuredContent: {}}; },
    sendFollowUpMessage: async (a) => { record("sendFollowUpMessage", a); },
    openExternal: (a) => { record("openExternal", a); },
    requestDisplayMode: async (a) => { record("requestDisplayMode", a); return a; },
    setWidgetState: async (s) => { record("setWidgetState", s); window.openai.widgetState = s; },
    notifyIntrinsicHeight: (h) => { record("notifyIntrinsicHeight", h); },
  };
})();`, nil
}

// consoleProblem is the text of an event that fails a browser check: an
// uncaught exception, a console.error or assert, a browser log error.
func consoleProblem(ev any) string {
	switch e := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := e.ExceptionDetails
		if d == nil {
			return "uncaught exception"
		}
		text := d.Text
		if d.Exception != nil {
			desc, _, _ := strings.Cut(remoteText(d.Exception), "\n    at ")
			text = strings.TrimSpace(text + " " + desc)
		}
		return "uncaught exception: " + text
	case *runtime.EventConsoleAPICalled:
		if e.Type != runtime.ConsoleAPICalledTypeError && e.Type != runtime.ConsoleAPICalledTypeAssert {
			return ""
		}
		parts := make([]string, 0, len(e.Args))
		for _, a := range e.Args {
			parts = append(parts, remoteText(a))
		}
		return "console error: " + cut(strings.Join(parts, " "), 300)
	case *log.EventEntryAdded:
		if e.Entry == nil || e.Entry.Level != log.EntryLevelError {
			return ""
		}
		// The browser asks for a favicon by itself; a missing one is not
		// the page's error.
		if strings.HasSuffix(e.Entry.URL, "/favicon.ico") {
			return ""
		}
		text := e.Entry.Text
		if e.Entry.URL != "" {
			text += " (" + e.Entry.URL + ")"
		}
		return "browser error: " + cut(text, 300)
	}
	return ""
}

// remoteText renders a console argument or an exception object.
func remoteText(o *runtime.RemoteObject) string {
	if o == nil {
		return "null"
	}
	if o.Type == runtime.RemoteObjectTypeString {
		var s string
		if json.Unmarshal(o.Value, &s) == nil {
			return s
		}
	}
	if o.Description != "" {
		return o.Description
	}
	if len(o.Value) > 0 {
		return string(o.Value)
	}
	if o.UnserializableValue != "" {
		return string(o.UnserializableValue)
	}
	return string(o.Type)
}

func compileAll(res []string) ([]*regexp.Regexp, error) {
	out := make([]*regexp.Regexp, 0, len(res))
	for _, s := range res {
		re, err := regexp.Compile(s)
		if err != nil {
			return nil, err
		}
		out = append(out, re)
	}
	return out, nil
}

func matchesAny(res []*regexp.Regexp, s string) bool {
	for _, re := range res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// safeName keeps a check's name usable as a file name.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
}
