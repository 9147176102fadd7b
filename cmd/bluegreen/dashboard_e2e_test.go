package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/bluegreen-dev/bluegreen/internal/capture"
	"github.com/bluegreen-dev/bluegreen/internal/verify"
)

// The dashboard, driven in a real headless Chromium against a real
// `bluegreen serve` running the example shop.
//
// Screenshots: each test saves one or more under $BLUEGREEN_ARTIFACTS/<test>
// (default: the system temp dir, bluegreen-artifacts/<test>; the path is
// logged). With BLUEGREEN_DOCS_SCREENSHOTS=1 the idle, shifting and
// rolled-back states are also written to docs/img/ for the docs.

// page is one browser tab logged in to one app's dashboard, recording
// every network request it makes.
type page struct {
	t    *testing.T
	a    *app
	ctx  context.Context
	base string

	mu       sync.Mutex
	urls     []string
	finished map[network.RequestID]float64
	received map[network.RequestID]int64
}

func requireChromium(t *testing.T) string {
	t.Helper()
	exe, err := verify.FindChromium("")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium is needed for the dashboard tests in CI: %v", err)
		}
		t.Skipf("chromium not installed: %v", err)
	}
	return exe
}

// openDashboard starts a headless Chromium of the given window width and
// returns a tab that is not logged in yet.
func openDashboard(t *testing.T, a *app, width, height int) *page {
	t.Helper()
	exe := requireChromium(t)
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(exe), chromedp.WindowSize(width, height)}
	for _, f := range []string{"headless", "no-sandbox", "disable-gpu", "disable-quic", "no-first-run",
		"disable-background-networking", "disable-component-update", "disable-sync",
		"no-default-browser-check", "disable-dev-shm-usage", "mute-audio", "hide-scrollbars"} {
		opts = append(opts, chromedp.Flag(f, true))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium %s: %v", exe, err)
	}
	// No animation: a screenshot shows where the split bar is, not where
	// it is going.
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{{Name: "prefers-reduced-motion", Value: "reduce"}}})
		return err
	})); err != nil {
		t.Fatalf("emulate reduced motion: %v", err)
	}
	p := &page{t: t, a: a, ctx: ctx, base: "http://" + a.admin,
		finished: map[network.RequestID]float64{}, received: map[network.RequestID]int64{}}
	if err := chromedp.Listen(ctx, func(ev any) {
		p.mu.Lock()
		defer p.mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			p.urls = append(p.urls, ev.Request.URL)
		case *network.EventDataReceived:
			p.received[ev.RequestID] += ev.EncodedDataLength
		case *network.EventLoadingFinished:
			p.finished[ev.RequestID] = ev.EncodedDataLength
		}
	}); err != nil {
		t.Fatalf("listen to the browser: %v", err)
	}
	return p
}

// do runs browser actions within 30s.
func (p *page) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.shot("failed")
		p.t.Fatalf("%s: %v", what, err)
	}
}

// eval returns a JavaScript expression's value.
func eval[T any](p *page, expr string, opts ...chromedp.EvaluateOption) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, opts...))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitJS waits until the expression is true in the page.
func (p *page) waitJS(within time.Duration, what, expr string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, within)
	defer cancel()
	var err error
	for {
		_, err = chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(0), chromedp.WithPollingInterval(50*time.Millisecond)))
		// A poll started while the page navigated ends with the old
		// document: poll the new one.
		if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "navigated") {
			break
		}
	}
	if err != nil {
		p.shot("failed")
		p.t.Fatalf("timed out after %s waiting for %s (%s): %v\npage: %s", within, what, expr, err,
			eval[string](p, `document.getElementById('phase') ? document.getElementById('phase').textContent + ' | ' + document.getElementById('summary').textContent + ' | ' + document.getElementById('result').textContent : (document.body ? document.body.innerText.slice(0, 500) : 'no body')`))
	}
}

// login fills the login form with the admin token and waits for the
// dashboard's first complete picture.
func (p *page) login() {
	p.t.Helper()
	tok, err := os.ReadFile(filepath.Join(p.a.dir, ".bluegreen/admin.token"))
	if err != nil {
		p.t.Fatal(err)
	}
	p.do("log in",
		chromedp.Navigate(p.base+"/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), strings.TrimSpace(string(tok))),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("split")),
	)
	p.waitJS(30*time.Second, "the dashboard after login", `document.body.dataset.loaded === 'true' && document.getElementById('conn').dataset.state === 'live'`)
}

// weights returns the split bar's weights as the page shows them.
func (p *page) weights() (blue, green int) {
	p.t.Helper()
	s := eval[string](p, `document.getElementById('split-blue').dataset.weight + ' ' + document.getElementById('split-green').dataset.weight`)
	if _, err := fmt.Sscan(s, &blue, &green); err != nil {
		p.t.Fatalf("split weights %q: %v", s, err)
	}
	return blue, green
}

func (p *page) text(id string) string {
	p.t.Helper()
	return eval[string](p, fmt.Sprintf(`document.getElementById(%q).textContent`, id))
}

// confirm waits for the confirmation dialog, checks that it says want,
// and accepts it.
func (p *page) confirm(want ...string) {
	p.t.Helper()
	p.waitJS(10*time.Second, "the confirmation dialog", `document.getElementById('confirm').open`)
	text := p.text("confirm-title") + " " + p.text("confirm-text")
	for _, w := range want {
		if !strings.Contains(text, w) {
			p.t.Errorf("confirmation %q does not say %q", text, w)
		}
	}
	p.do("confirm", chromedp.Click(chromedp.ID("confirm-ok")))
}

// shot saves a full-page screenshot as a test artifact and returns its path.
func (p *page) shot(name string) string {
	p.t.Helper()
	return p.capture(name, chromedp.FullScreenshot(100))
}

// capture saves what action takes as a test artifact and returns its path.
func (p *page) capture(name string, action chromedp.Action[[]byte]) string {
	p.t.Helper()
	dir := os.Getenv("BLUEGREEN_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "bluegreen-artifacts")
	}
	dir = filepath.Join(dir, strings.ReplaceAll(p.t.Name(), "/", "_"))
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, action)
	if err != nil {
		p.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		p.t.Fatal(err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot: %s", path)
	return path
}

// docShot copies a screenshot into docs/img when BLUEGREEN_DOCS_SCREENSHOTS=1.
func docShot(t *testing.T, path, name string) {
	t.Helper()
	if os.Getenv("BLUEGREEN_DOCS_SCREENSHOTS") != "1" || path == "" {
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join("..", "..", "docs", "img", name+".png")
	if err := os.WriteFile(out, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("docs screenshot: %s", out)
}

// requestsOutside lists the requests that went anywhere but admin_listen
// (data: URLs never leave the page).
func (p *page) requestsOutside() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, u := range p.urls {
		pu, err := url.Parse(u)
		if err != nil || !(pu.Scheme == "data" || (pu.Scheme == "http" && pu.Host == p.a.admin)) {
			out = append(out, u)
		}
	}
	return out
}

// loadedBytes is what the page received over the network since reset:
// each finished request's encoded length, and what arrived so far of
// those still open (the event stream).
func (p *page) loadedBytes() (total int64, requests int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	seen := map[network.RequestID]bool{}
	for id, n := range p.finished {
		total += int64(n)
		seen[id] = true
	}
	for id, n := range p.received {
		if !seen[id] {
			total += n
			seen[id] = true
		}
	}
	return total, len(seen)
}

func (p *page) resetNetwork() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.urls = nil
	p.finished = map[network.RequestID]float64{}
	p.received = map[network.RequestID]int64{}
}

// TestDashboardDeployShiftRollback: log in, deploy v2 from the page and
// watch the split bar and the phase move, then roll back from the page and
// see the live slot change. The first load stays under 200 KB and asks
// nothing of any host but admin_listen.
func TestDashboardDeployShiftRollback(t *testing.T) {
	requireChromium(t)
	a := newApp(t, appOptions{bake: "1s"})
	a.start()
	if out, code := a.deployWait("v1"); code != 0 {
		t.Fatalf("deploy v1: exit %d\n%s", code, out)
	}
	p := openDashboard(t, a, 1280, 900)
	p.login()

	// The token is nowhere in the page, its URL or readable cookies.
	tok, _ := os.ReadFile(filepath.Join(a.dir, ".bluegreen/admin.token"))
	secret := strings.TrimSpace(string(tok))
	if html := eval[string](p, `location.href + document.documentElement.outerHTML + document.cookie`); strings.Contains(html, secret) {
		t.Fatal("the admin token is in the page, its URL or a script-readable cookie")
	}

	// The first load, measured on a reload with the session and no cache.
	p.do("disable the cache", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true})
		return err
	}))
	p.resetNetwork()
	p.do("reload", chromedp.Reload())
	p.waitJS(30*time.Second, "the dashboard after a reload", `document.body.dataset.loaded === 'true'`)
	size, n := p.loadedBytes()
	t.Logf("initial load: %d bytes in %d requests", size, n)
	if size > 200<<10 {
		t.Errorf("initial load %d bytes, want under 200 KB", size)
	}
	if out := p.requestsOutside(); len(out) > 0 {
		t.Errorf("requests outside admin_listen %s: %v", a.admin, out)
	}
	if b, g := p.weights(); b != 0 || g != 100 || p.text("phase") != "idle" {
		t.Fatalf("idle page shows blue %d%% green %d%%, phase %q; want green 100%%, idle", b, g, p.text("phase"))
	}
	docShot(t, p.shot("idle"), "dashboard-idle")
	// Every control has a name for assistive technology.
	if unnamed := eval[string](p, `[...document.querySelectorAll('input:not([type=hidden]), button')]
		.filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())
		.map(e => e.outerHTML).join('\n')`); unnamed != "" {
		t.Errorf("controls without a label or text:\n%s", unnamed)
	}

	// Deploy v2 from the page.
	p.do("fill the deploy form",
		chromedp.SendKeys(chromedp.ID("deploy-version"), "v2"),
		chromedp.SendKeys(chromedp.ID("deploy-strategy"), "linear 25% every 2s"),
		chromedp.Click(chromedp.ID("act-deploy")))
	p.confirm("Deploy v2", "idle slot blue", `"linear 25% every 2s"`)
	p.waitJS(30*time.Second, "the phase to be shifting", `document.getElementById('phase').dataset.phase === 'shifting'`)
	// The bar moves step by step: record what it shows until v2 is live.
	seen := map[int]bool{}
	var shifting string
	waitFor(t, 60*time.Second, "v2 to be live at 100% on blue", func() bool {
		b, g := p.weights()
		if b+g != 100 {
			t.Fatalf("split shows blue %d%% + green %d%%", b, g)
		}
		phase := eval[string](p, `document.getElementById('phase').dataset.phase`)
		if phase == "shifting" && b > 0 && b < 100 {
			if shifting == "" && b >= 50 {
				shifting = p.shot("shifting")
			}
			seen[b] = true
		}
		return phase == "idle" && b == 100
	})
	if len(seen) < 2 {
		t.Errorf("the split bar showed blue at %v during the shift; want at least two steps of 25, 50, 75", seen)
	}
	docShot(t, shifting, "dashboard-shifting")
	if s := p.text("summary"); !strings.Contains(s, "ended succeeded") {
		t.Errorf("summary after the shift: %q", s)
	}
	// The status sent with the succeeded event may predate the route swap
	// by a moment; the next one shows blue live.
	p.waitJS(10*time.Second, "blue live with v2 on its card", `document.getElementById('slot-blue').dataset.role === 'live' && document.getElementById('slot-blue').dataset.version === 'v2'`)

	// Roll back from the page: v1 is still warm in green.
	p.waitJS(10*time.Second, "rollback to be allowed", `!document.getElementById('act-rollback').disabled`)
	p.do("click rollback", chromedp.Click(chromedp.ID("act-rollback")))
	p.confirm("Roll back to v1", "still warm in green")
	p.waitJS(30*time.Second, "green to be live again", `document.getElementById('slot-green').dataset.role === 'live' && document.getElementById('split-green').dataset.weight === '100'`)
	if got := eval[string](p, `document.getElementById('slot-green').dataset.version`); got != "v1" {
		t.Errorf("green runs %q after the rollback, want v1", got)
	}
	p.waitJS(10*time.Second, "the rollback in the history", `document.querySelector('#history tbody tr td:nth-child(2)').textContent === 'rollback'`)
	p.shot("rolled-back-by-hand")
	if st := a.status(); st.Route.Live != "green" {
		t.Errorf("server says live %s after the rollback, want green", st.Route.Live)
	}
	if out := p.requestsOutside(); len(out) > 0 {
		t.Errorf("requests outside admin_listen %s: %v", a.admin, out)
	}
}

// TestDashboardExplainsAnAnalysisFailure: a bad v2 (5% errors) is rolled
// back by the analysis; the page says why, with the rule, the values, the
// threshold and the samples. Also shot at phone width in dark mode.
func TestDashboardExplainsAnAnalysisFailure(t *testing.T) {
	requireChromium(t)
	a := newApp(t, appOptions{bake: "1s", shopArgs: []string{"--fail-rate", "0.05", "--bad-version", "v2"}, extra: analysisYAML(ruleErrors, ruleLatencyP99)})
	a.start()
	if out, code := a.deployWait("v1"); code != 0 {
		t.Fatalf("deploy v1: exit %d\n%s", code, out)
	}
	l := startLoadOn(t, a.prod, 8)
	p := openDashboard(t, a, 1280, 900)
	p.login()
	if out, errOut, code := a.cli("deploy", "v2", "--strategy", analysisSteps); code != 0 {
		t.Fatalf("deploy v2: exit %d %s%s", code, out, errOut)
	}
	p.waitJS(60*time.Second, "v2 rolled back", `document.getElementById('phase').dataset.phase === 'idle' && document.getElementById('summary').textContent.includes('rolled_back')`)
	l.stop()
	p.waitJS(10*time.Second, "the rolling_back event with its verdict", `!!document.querySelector('#timeline li[data-phase="rolling_back"] details.analysis[open]')`)
	verdict := eval[string](p, `document.querySelector('#timeline li[data-phase="rolling_back"]').innerText`)
	for _, want := range []string{
		"analysis failed: error_rate max 1% max_ratio_to_live 2", // the event's reason
		"decided by error_rate max 1% max_ratio_to_live 2",       // the rule
		"max 1.00%",      // the threshold
		"Samples: blue:", // the samples, new slot first
		"requests",
	} {
		if !strings.Contains(verdict, want) {
			t.Errorf("the rollback's explanation does not show %q:\n%s", want, verdict)
		}
	}
	if rows := eval[int](p, `document.querySelectorAll('#timeline li[data-phase="rolling_back"] table.rules tbody tr').length`); rows != 2 {
		t.Errorf("%d rule rows, want 2 (error_rate and latency_p99)", rows)
	}
	if v := p.text("verdict"); !strings.HasPrefix(v, "Last analysis: fail") {
		t.Errorf("verdict banner %q", v)
	}
	// The status sent with the last event may predate the route swap by a
	// moment; the bar follows.
	p.waitJS(10*time.Second, "the bar back on green", `document.getElementById('split-green').dataset.weight === '100'`)
	docShot(t, p.shot("rolled-back"), "dashboard-rolled-back")

	// The same page at phone width, in dark mode.
	p.do("phone, dark",
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			if _, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{Width: 390, Height: 844, DeviceScaleFactor: 1, Mobile: true}); err != nil {
				return err
			}
			_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{
				{Name: "prefers-color-scheme", Value: "dark"}, {Name: "prefers-reduced-motion", Value: "reduce"}}})
			return err
		}))
	if w := eval[int](p, `document.documentElement.scrollWidth`); w > 390 {
		t.Errorf("at 390px the page is %dpx wide: it scrolls sideways", w)
	}
	p.shot("phone-dark-full")
	docShot(t, p.capture("phone-dark", chromedp.CaptureScreenshot()), "dashboard-phone-dark")
}

// TestDashboardPauseAndCSRF: a session may read, but every POST must carry
// the page's CSRF token; the bearer token keeps working. Pause from the
// page, and buttons that are not allowed say why.
func TestDashboardPauseAndCSRF(t *testing.T) {
	requireChromium(t)
	a := newApp(t, appOptions{strategy: "linear 50% every 30s"})
	a.start()
	if out, code := a.deployWait("v1"); code != 0 {
		t.Fatalf("deploy v1: exit %d\n%s", code, out)
	}
	p := openDashboard(t, a, 1024, 768)
	p.login()

	// From the page itself: fetch with the cookie but without the header.
	post := `fetch('/api/v1/deployments', {method: 'POST', credentials: 'same-origin', headers: %s, body: '{"version":"v9"}'}).then(r => r.status)`
	if code := eval[int](p, fmt.Sprintf(post, `{'Content-Type': 'application/json'}`), chromedp.EvalAwaitPromise); code != 403 {
		t.Errorf("POST from the page without the CSRF token: %d, want 403", code)
	}
	// With the page's token the same request is accepted (201).
	withToken := `{'Content-Type': 'application/json', 'X-CSRF-Token': document.querySelector('meta[name="csrf-token"]').content}`
	if code := eval[int](p, fmt.Sprintf(post, withToken), chromedp.EvalAwaitPromise); code != 201 {
		t.Errorf("POST from the page with the CSRF token: %d, want 201", code)
	}

	// From outside the browser with the stolen cookie: still 403.
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	cookies, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{p.base + "/"}})
	if err != nil || len(cookies.Cookies) != 1 {
		t.Fatalf("cookies: %+v %v", cookies, err)
	}
	c := cookies.Cookies[0]
	if !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict {
		t.Errorf("session cookie %s: HttpOnly %v, SameSite %q; want HttpOnly, Strict", c.Name, c.HTTPOnly, c.SameSite)
	}
	req, _ := http.NewRequest("POST", p.base+"/api/v1/deployments/current/abort", nil)
	req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if res.StatusCode != 403 || !strings.Contains(string(body), "CSRF") {
		t.Errorf("POST with the cookie and no CSRF token: %d %s, want 403 naming the CSRF token", res.StatusCode, body)
	}
	// v9 shifts (50% for 30s): pause is allowed, resume is not, and says why.
	p.waitJS(30*time.Second, "v9 shifting", `document.getElementById('phase').dataset.phase === 'shifting'`)
	if why := p.text("why-resume"); !eval[bool](p, `document.getElementById('act-resume').disabled`) || !strings.Contains(why, "only paused can be resumed") {
		t.Errorf("resume while shifting: want disabled with the reason, got %q", why)
	}
	p.do("click pause", chromedp.Click(chromedp.ID("act-pause")))
	p.confirm("Pause deployment", "Traffic stays where it is")
	p.waitJS(30*time.Second, "v9 paused", `document.getElementById('phase').dataset.phase === 'paused' && !document.getElementById('act-resume').disabled`)
	if st := a.status(); st.Active == nil || st.Active.Phase != "paused" {
		t.Errorf("server status after pause from the page: %+v", st.Active)
	}
	// The CLI's bearer token is unchanged.
	if out, errOut, code := a.cli("abort"); code != 0 {
		t.Errorf("bluegreen abort with the bearer token: exit %d %s%s", code, out, errOut)
	}
	p.waitJS(30*time.Second, "the aborted deployment on the page", `document.getElementById('summary').textContent.includes('aborted')`)
	p.shot("csrf")
}

// TestStatusWatchFollowsADeployment: `bluegreen status --watch` prints a
// block per change (not a terminal) with the split bar, the phase and the
// verdict while a deployment shifts, and exits 0 on Ctrl-C.
func TestStatusWatchFollowsADeployment(t *testing.T) {
	a := newApp(t, appOptions{bake: "1s"})
	a.start()
	if out, code := a.deployWait("v1"); code != 0 {
		t.Fatalf("deploy v1: exit %d\n%s", code, out)
	}
	cmd := exec.Command(bins.bluegreen, "status", "--watch", "-c", a.cfg)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr capture.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var out strings.Builder
	waitLine := func(what string, match func(string) bool) {
		t.Helper()
		deadline := time.After(60 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("watch ended before %s:\n%s%s", what, out.String(), stderr.String())
				}
				out.WriteString(l + "\n")
				if match(l) {
					return
				}
			case <-deadline:
				t.Fatalf("no %s within 60s:\n%s", what, out.String())
			}
		}
	}
	waitLine("the idle picture", func(l string) bool { return strings.HasPrefix(l, "phase    idle") })
	if _, errOut, code := a.cli("deploy", "v2", "--strategy", "linear 50% every 2s"); code != 0 {
		t.Fatalf("deploy v2: exit %d %s", code, errOut)
	}
	waitLine("a half split", func(l string) bool { return strings.HasPrefix(l, "traffic  blue v2  50%") })
	waitLine("the shifting phase", func(l string) bool { return strings.HasPrefix(l, "phase    shifting, step 1 of 2") })
	waitLine("the end of the deployment", func(l string) bool {
		return strings.HasPrefix(l, "phase    idle (last: deployment 2 ended succeeded)")
	})
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for l := range lines {
		out.WriteString(l + "\n")
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("status --watch after Ctrl-C: %v, want exit 0\n%s", err, stderr.String())
	}
	if strings.Contains(out.String(), "\x1b[") {
		t.Errorf("ANSI escapes in the output of a pipe:\n%q", out.String())
	}
	if n := strings.Count(out.String(), "\n--- "); n < 3 {
		t.Errorf("%d blocks, want one per change:\n%s", n, out.String())
	}
}
