package router

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/bluegreen-dev/bluegreen/internal/health"
)

// helperEnv switches the test binary into a backend process (see TestMain).
const helperEnv = "BLUEGREEN_ROUTER_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "backend" {
		os.Exit(runHelperBackend())
	}
	os.Exit(m.Run())
}

// runHelperBackend serves HTTP on 127.0.0.1:0, prints the port on stdout,
// and exits when stdin closes (the test ended) or it is killed.
func runHelperBackend() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper backend:", err)
		return 1
	}
	fmt.Printf("%d\n", ln.Addr().(*net.TCPAddr).Port)
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	pid := fmt.Sprint(os.Getpid())
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, pid)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "helper backend:", err)
		return 1
	}
	return 0
}

// helperProcess is a backend running as a child process.
type helperProcess struct {
	addr     string
	cmd      *exec.Cmd
	waitOnce sync.Once
	waitErr  error
}

func (h *helperProcess) wait() error {
	h.waitOnce.Do(func() { h.waitErr = h.cmd.Wait() })
	return h.waitErr
}

func startHelperBackend(t *testing.T) *helperProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=backend")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helperProcess{cmd: cmd}
	t.Cleanup(func() {
		_ = stdin.Close()
		if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			t.Errorf("kill helper: %v", err)
		}
		_ = h.wait()
	})
	port := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		port <- strings.TrimSpace(line)
	}()
	p := recv(t, port, "helper backend port")
	if p == "" {
		t.Fatal("helper backend printed no port")
	}
	h.addr = "127.0.0.1:" + p
	return h
}

// TestInstanceKilled kills one of two backend processes while clients send
// requests: no client sees an error (in-flight and later attempts on the
// dead instance are retried on the other one), and the dead instance leaves
// rotation after at most unhealthy_threshold failed observations.
func TestInstanceKilled(t *testing.T) {
	const unhealthyThreshold = 2
	victim := startHelperBackend(t)
	survivor := startHelperBackend(t)

	obs := &observations{}
	tr := newTestRouter(t, Options{Health: health.Options{
		Path:               "/health",
		Interval:           50 * time.Millisecond,
		Timeout:            time.Second,
		HealthyThreshold:   1,
		UnhealthyThreshold: unhealthyThreshold,
	}}, false)
	tr.observeHook = obs.add
	tr.SetBackends(Blue, []string{victim.addr, survivor.addr}, true)
	runDone := make(chan error, 1)
	go func() { runDone <- tr.Run(t.Context()) }()
	t.Cleanup(func() {
		if err := <-runDone; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	// Both processes answer probes before the load starts.
	waitFor(t, "a successful probe of each backend", func() bool {
		seen := map[string]bool{}
		for _, o := range obs.snapshot() {
			if o.source == sourceActive && o.ok {
				seen[o.addr] = true
			}
		}
		return seen[victim.addr] && seen[survivor.addr]
	})

	var (
		ok       atomic.Int64
		errCount atomic.Int64
		errMu    sync.Mutex
		errMsgs  []string
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	transport := &http.Transport{MaxIdleConnsPerHost: 16}
	t.Cleanup(transport.CloseIdleConnections)
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := getOK(client, tr.prod.URL+"/"); err != nil {
					errCount.Add(1)
					errMu.Lock()
					errMsgs = append(errMsgs, err.Error())
					errMu.Unlock()
					continue
				}
				ok.Add(1)
			}
		})
	}
	stopClients := sync.OnceFunc(func() { close(stop); wg.Wait() })
	t.Cleanup(stopClients)

	waitFor(t, "200 requests before the kill", func() bool { return ok.Load() >= 200 })
	killedAt := len(obs.snapshot())
	if err := victim.cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	if err := victim.wait(); err == nil {
		t.Fatal("killed helper exited cleanly")
	}
	waitFor(t, "the killed backend to leave rotation", func() bool {
		h, _ := tr.SlotReady(Blue)
		return h == 1
	})
	afterDown := ok.Load()
	waitFor(t, "200 requests after the kill", func() bool { return ok.Load() >= afterDown+200 })
	stopClients()

	if n := errCount.Load(); n > 0 {
		errMu.Lock()
		defer errMu.Unlock()
		t.Fatalf("%d client errors, first: %v", n, errMsgs[:min(len(errMsgs), 5)])
	}

	// Count, in the counter's own order, the failures the victim needed to
	// leave rotation: failures observed while it was still healthy plus the
	// one that changed its state.
	var failedWhileUp, failedProbes, passiveFailures int
	var left bool
	for _, o := range obs.snapshot()[killedAt:] {
		if o.addr != victim.addr || o.ok {
			continue
		}
		if o.source == sourcePassive {
			passiveFailures++
		}
		if o.healthy || o.changed {
			failedWhileUp++
			if o.source == sourceActive {
				failedProbes++
			}
		}
		if o.changed {
			left = true
		}
	}
	if !left {
		t.Fatal("no observation took the victim out of rotation")
	}
	if failedWhileUp > unhealthyThreshold || failedProbes > unhealthyThreshold {
		t.Fatalf("victim left rotation after %d failed observations (%d probes), want at most %d",
			failedWhileUp, failedProbes, unhealthyThreshold)
	}
	st := tr.Status().Slots[Blue]
	if st.Retries < int64(passiveFailures) {
		t.Fatalf("%d requests failed on the victim but only %d were retried", passiveFailures, st.Retries)
	}
	if got := testutil.ToFloat64(tr.metrics.backendUp.WithLabelValues("blue", victim.addr)); got != 0 {
		t.Fatalf("bluegreen_backend_up for the victim = %v, want 0", got)
	}
	if got := testutil.ToFloat64(tr.metrics.backendUp.WithLabelValues("blue", survivor.addr)); got != 1 {
		t.Fatalf("bluegreen_backend_up for the survivor = %v, want 1", got)
	}
	t.Logf("%d requests ok, %d retries; victim left after %d failed observations (%d probes, %d passive failures in all)",
		ok.Load(), st.Retries, failedWhileUp, failedProbes, passiveFailures)
}

// getOK performs a GET and returns an error unless it got a complete 200
// response; safe to call from any goroutine.
func getOK(client *http.Client, url string) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	return nil
}
