package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeHandsOffToANewBinary replaces a running serve by a freshly
// built binary through the documented handoff (SIGUSR2) while 64 clients
// send requests: none fails, the release's processes are the same ones
// (same PIDs), an MCP session opened before goes on, and the dashboard
// session cookie is still valid on the new serve.
func TestServeHandsOffToANewBinary(t *testing.T) {
	mcpBin, err := mcpAppBin()
	if err != nil {
		t.Fatal(err)
	}
	a := newApp(t, appOptions{})
	// The release is the example MCP app (it answers / with its version,
	// as the load generator wants, and speaks MCP with sessions in memory).
	copyFile(t, mcpBin, a.shop)
	// serve runs from its own copy of the binary, which the upgrade
	// replaces on disk, as a package manager would.
	a.bin = filepath.Join(a.dir, "bin", "bluegreen")
	copyFile(t, bins.bluegreen, a.bin)
	a.start()
	if out, code := a.deployWait("v1"); code != 0 {
		t.Fatalf("deploy v1: exit %d\n%s", code, out)
	}
	before := a.shopProcesses()
	slices.Sort(before)
	if len(before) != 2 {
		t.Fatalf("shop processes %v, want the 2 instances of v1", before)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	mcpSession := openMCPSession(ctx, t, a.prod)
	if err := mcpSession.search(ctx); err != nil {
		t.Fatal(err)
	}
	cookie := dashboardLogin(t, a)
	if !dashboardLoggedIn(t, a, cookie) {
		t.Fatal("the dashboard session does not work before the handoff")
	}

	// The new binary: built now, with its own version string.
	fresh := filepath.Join(a.dir, "bin", "bluegreen.new")
	build := exec.Command("go", "build", "-race", "-ldflags", "-X main.version=handoff-test", "-o", fresh, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the new binary: %v\n%s", err, out)
	}
	if err := os.Rename(fresh, a.bin); err != nil {
		t.Fatal(err)
	}

	load := startLoadOn(t, a.prod, 64)
	waitFor(t, 30*time.Second, "the load to get answers", func() bool { return load.ok.Load() > 500 })
	oldPID := a.serve.Process.Pid
	if err := a.serve.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-a.serveDone:
		if err != nil {
			t.Fatalf("the old serve did not exit 0 after the handoff: %v", err)
		}
		a.serve = nil
	case <-time.After(2 * time.Minute):
		t.Fatal("the old serve did not exit within 2m of SIGUSR2")
	}
	m := regexp.MustCompile(`msg="handed off" new_pid=(\d+)`).FindStringSubmatch(a.logs.String())
	if m == nil {
		t.Fatalf("the old serve did not log the new one's pid")
	}
	newPID, _ := strconv.Atoi(m[1])
	t.Cleanup(func() { stopPID(t, newPID) })
	if newPID == oldPID {
		t.Fatalf("new serve pid %d is the old one's", newPID)
	}
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", newPID)); err != nil || exe != a.bin {
		t.Errorf("new serve runs %q (%v), want the replaced %s", exe, err, a.bin)
	}
	// Requests go on against the new serve alone for a moment.
	answered := load.ok.Load()
	waitFor(t, 30*time.Second, "answers from the new serve", func() bool { return load.ok.Load() > answered+500 })
	load.check(t)
	t.Logf("handoff under 64 clients: %d requests answered, %d failed", load.ok.Load(), load.failed.Load())

	if after := a.shopProcesses(); !slices.Equal(sorted(after), before) {
		t.Errorf("shop processes after the handoff %v, want the same %v (not restarted)", after, before)
	}
	if err := mcpSession.search(ctx); err != nil {
		t.Errorf("the MCP session opened before the handoff: %v", err)
	}
	if !dashboardLoggedIn(t, a, cookie) {
		t.Error("the dashboard session cookie is not valid on the new serve")
	}
	if !strings.Contains(a.logs.String(), "listening on the socket handed over by the previous serve") {
		t.Error("the new serve did not take the handed-over sockets")
	}
}

// TestFailedHandoffKeepsTheOldServe: a new binary that cannot start (here
// a script that exits at once) leaves the old serve running with its
// instances, controller and listeners, and it can still deploy.
func TestFailedHandoffKeepsTheOldServe(t *testing.T) {
	a := newApp(t, appOptions{})
	a.bin = filepath.Join(a.dir, "bin", "bluegreen")
	copyFile(t, bins.bluegreen, a.bin)
	a.start()
	if out, code := a.deployWait("v1"); code != 0 {
		t.Fatalf("deploy v1: exit %d\n%s", code, out)
	}
	before := sorted(a.shopProcesses())
	// The "new binary" is broken: it says so and exits 3.
	moveAside := a.bin + ".good"
	if err := os.Rename(a.bin, moveAside); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(a.bin, []byte("#!/bin/sh\necho 'broken build' >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	load := startLoadOn(t, a.prod, 16)
	waitFor(t, 30*time.Second, "the load to get answers", func() bool { return load.ok.Load() > 100 })
	if err := a.serve.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "the handoff to fail", func() bool {
		return strings.Contains(a.logs.String(), "handoff failed; this serve goes on")
	})
	if !strings.Contains(a.logs.String(), "exit status 3") {
		t.Errorf("the failure does not say how the new binary exited:\n%s", a.logs.String())
	}
	if err := os.Rename(moveAside, a.bin); err != nil {
		t.Fatal(err)
	}
	if out, code := a.deployWait("v2"); code != 0 {
		t.Fatalf("deploy v2 after the failed handoff: exit %d\n%s", code, out)
	}
	load.check(t)
	// v1 stays warm (scale_down_delay 10m) beside v2, on the same
	// processes as before the failed handoff.
	after := a.shopProcesses()
	if len(after) != 4 || !slices.ContainsFunc(after, func(p int) bool { return p == before[0] }) ||
		!slices.ContainsFunc(after, func(p int) bool { return p == before[1] }) {
		t.Errorf("shop processes %v after deploying v2, want v1's %v and two more", after, before)
	}
}

func sorted(s []int) []int { slices.Sort(s); return s }

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o755); err != nil {
		t.Fatal(err)
	}
}

// stopPID stops a serve that is not this test's child (the handoff
// started it) with SIGTERM and waits until it is gone.
func stopPID(t *testing.T, pid int) {
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return // already gone
	}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return
		}
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	t.Errorf("serve pid %d did not stop within 1m of SIGTERM", pid)
}

// dashboardLogin logs into the dashboard with the admin token and returns
// the session cookie.
func dashboardLogin(t *testing.T, a *app) *http.Cookie {
	t.Helper()
	token, err := os.ReadFile(filepath.Join(a.dir, ".bluegreen/admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"token": {strings.TrimSpace(string(token))}}
	req, _ := http.NewRequest("POST", "http://"+a.admin+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://"+a.admin)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || len(res.Cookies()) == 0 {
		t.Fatalf("login: %s, cookies %v", res.Status, res.Cookies())
	}
	return res.Cookies()[0]
}

// dashboardLoggedIn reports whether the cookie gets the dashboard rather
// than the login form.
func dashboardLoggedIn(t *testing.T, a *app, c *http.Cookie) bool {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+a.admin+"/", nil)
	req.AddCookie(c)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	return res.StatusCode == http.StatusOK && !strings.Contains(string(body), `action="/login"`)
}
