package handoff

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the new process: with childEnv set, TestMain
// runs child instead of the tests.
const childEnv = "HANDOFF_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(child(mode))
	}
	os.Exit(m.Run())
}

// child takes the "web" socket, serves one answer naming its pid on it,
// says it is ready (mode "ok") or exits 3 (mode "fail"), and exits when
// its parent has.
func child(mode string) int {
	in, err := FromEnv()
	if err != nil || in == nil {
		fmt.Fprintln(os.Stderr, "child: FromEnv:", in, err)
		return 1
	}
	if os.Getenv(EnvFDs) != "" {
		fmt.Fprintln(os.Stderr, "child: the protocol's variables are still in the environment")
		return 1
	}
	if mode == "fail" {
		fmt.Fprintln(os.Stderr, "child: failing on purpose")
		return 3
	}
	ln, ok, err := in.Listener("web")
	if err != nil || !ok {
		fmt.Fprintln(os.Stderr, "child: listener:", ok, err)
		return 1
	}
	if _, ok, _ := in.Listener("web"); ok {
		fmt.Fprintln(os.Stderr, "child: the socket was handed out twice")
		return 1
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "pid %d", os.Getpid())
	})}
	go func() { _ = srv.Serve(ln) }()
	if err := in.Ready(); err != nil {
		fmt.Fprintln(os.Stderr, "child: ready:", err)
		return 1
	}
	select {
	case <-in.ParentDone():
	case <-time.After(time.Minute):
		fmt.Fprintln(os.Stderr, "child: the parent never exited")
		return 1
	}
	return 0
}

func TestStartPassesTheSocketAndWaitsForReady(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := Start(os.Args[0], []string{"-test.run=^$"}, append(os.Environ(), childEnv+"=ok"),
		map[string]syscall.Conn{"web": ln.(*net.TCPListener)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := c.WaitReady(ctx); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	// The socket is still non-blocking here: closing the listener ends
	// an Accept in progress at once (in blocking mode it would wait for
	// the next connection).
	accepted := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err == nil {
			_ = conn.Close()
		}
		accepted <- err
	}()
	time.Sleep(50 * time.Millisecond) // let Accept start; not a synchronisation the test relies on
	_ = ln.Close()
	select {
	case <-accepted:
	case <-time.After(30 * time.Second):
		t.Fatal("Accept did not end when the listener closed: the handoff left the socket blocking")
	}
	// Every connection now reaches the child.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for range 5 {
		res, err := client.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			t.Fatalf("after the handoff: %v", err)
		}
		body, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		if want := fmt.Sprintf("pid %d", c.Pid()); string(body) != want {
			t.Errorf("answer %q, want %q from the child", body, want)
		}
	}
	// The child waits for its parent; here the parent "exits" by closing
	// its end of the pipe.
	_ = c.parent.Close()
	if st, err := c.proc.Wait(); err != nil || !st.Success() {
		t.Errorf("child after the parent left: %v %v", st, err)
	}
}

func TestStartReportsAChildThatExitsBeforeReady(t *testing.T) {
	c, err := Start(os.Args[0], []string{"-test.run=^$"}, append(os.Environ(), childEnv+"=fail"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	err = c.WaitReady(ctx)
	if err == nil || !strings.Contains(err.Error(), "exited before it was ready") || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("WaitReady = %v, want it to say the child exited with status 3 before it was ready", err)
	}
}

func TestFromEnvWithoutAHandoff(t *testing.T) {
	in, err := FromEnv()
	if in != nil || err != nil {
		t.Fatalf("FromEnv outside a handoff = %v, %v; want nil, nil", in, err)
	}
	if _, ok, err := in.Listener("web"); ok || err != nil {
		t.Errorf("nil Inherited handed out a listener: %v %v", ok, err)
	}
	if err := in.Ready(); err != nil {
		t.Errorf("nil Inherited Ready: %v", err)
	}
}

func TestFromEnvRejectsBadSpecs(t *testing.T) {
	t.Setenv(EnvFDs, "web:two")
	t.Setenv(EnvReady, "4")
	t.Setenv(EnvParent, "5")
	if _, err := FromEnv(); err == nil || !strings.Contains(err.Error(), EnvFDs) {
		t.Fatalf("FromEnv with a bad fd = %v, want an error naming %s", err, EnvFDs)
	}
}
