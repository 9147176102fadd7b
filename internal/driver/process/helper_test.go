package process

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the instances the driver runs: with
// helperEnv set, TestMain runs a helper instead of the tests.
const helperEnv = "BLUEGREEN_PROCESS_TEST_HELPER"

func TestMain(m *testing.M) {
	switch mode := os.Getenv(helperEnv); mode {
	case "":
		os.Exit(m.Run())
	case "serve":
		os.Exit(helperServe(os.Args[1:]))
	case "sleep":
		os.Exit(helperSleep())
	case "parent":
		os.Exit(helperParent(os.Args[1:]))
	default:
		fmt.Fprintf(os.Stderr, "unknown helper mode %q\n", mode)
		os.Exit(2)
	}
}

// helloReply is what a "serve" helper answers on /.
type helloReply struct {
	PID        int               `json:"pid"`
	Listen     string            `json:"listen"`
	Slot       string            `json:"slot"`
	Version    string            `json:"version"`
	Env        map[string]string `json:"env"`
	Grandchild int               `json:"grandchild"`
}

// helperServe is an HTTP instance: it answers / with helloReply, writes to
// stdout (the instance log) and exits on SIGTERM unless --ignore-term.
func helperServe(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	listen := fs.String("listen", "", "address")
	sl := fs.String("slot", "", "slot")
	version := fs.String("version", "", "version")
	ignoreTerm := fs.Bool("ignore-term", false, "ignore SIGTERM")
	spam := fs.Int("spam", 0, "bytes written to stdout every 5ms")
	grandchild := fs.Bool("grandchild", false, "fork a child in the same process group")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)

	var child *exec.Cmd
	if *grandchild {
		self, err := os.Executable()
		if err != nil {
			fmt.Println("helper:", err)
			return 1
		}
		child = exec.Command(self)
		child.Env = append(os.Environ(), helperEnv+"=sleep")
		if err := child.Start(); err != nil {
			fmt.Println("helper:", err)
			return 1
		}
	}
	reply := helloReply{PID: os.Getpid(), Listen: *listen, Slot: *sl, Version: *version, Env: map[string]string{}}
	for _, k := range []string{"PORT", "BLUEGREEN_SLOT", "BLUEGREEN_VERSION", "EXTRA"} {
		reply.Env[k] = os.Getenv(k)
	}
	if child != nil {
		reply.Grandchild = child.Process.Pid
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Println("helper:", err)
		return 1
	}
	fmt.Printf("helper listening on %s slot=%s version=%s\n", *listen, *sl, *version)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if err := json.NewEncoder(w).Encode(reply); err != nil {
				fmt.Println("helper: write reply:", err)
			}
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Println("helper: serve:", err)
		}
	}()
	if *spam > 0 {
		line := strings.Repeat("x", *spam-1) + "\n"
		go func() {
			for {
				fmt.Print(line)
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	for range sigs {
		if *ignoreTerm {
			fmt.Println("helper: got SIGTERM, ignoring it")
			continue
		}
		fmt.Println("helper: got SIGTERM, exiting")
		if child != nil {
			_ = child.Wait() // it got SIGTERM too, as a member of our group
		}
		return 0
	}
	return 0
}

// helperSleep waits for a signal (the default SIGTERM action ends it).
func helperSleep() int {
	for {
		time.Sleep(time.Hour)
	}
}

// parentReport is what a "parent" helper prints once its driver started.
type parentReport struct {
	Addrs []string `json:"addrs"`
	PIDs  []int    `json:"pids"`
}

// helperParent plays bluegreen: it starts blue v1 with a driver on the
// given state and log directories, prints a parentReport line, and waits
// to be killed.
func helperParent(args []string) int {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: parent STATE_DIR LOG_DIR")
		return 2
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	d, err := New(Options{
		Command:   []string{self, "--listen", "127.0.0.1:{port}", "--slot", "{slot}", "--version", "{version}"},
		Env:       map[string]string{helperEnv: "serve", "GORACE": "atexit_sleep_ms=0"},
		Instances: 2,
		StateDir:  args[0],
		LogDir:    args[1],
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	addrs, err := d.Start(context.Background(), "blue", "v1")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	rep := parentReport{Addrs: addrs}
	for _, st := range d.Instances("blue") {
		rep.PIDs = append(rep.PIDs, st.PID)
	}
	w := bufio.NewWriter(os.Stdout)
	if err := json.NewEncoder(w).Encode(rep); err != nil || w.Flush() != nil {
		return 1
	}
	for { // until SIGKILL
		time.Sleep(time.Hour)
	}
}
