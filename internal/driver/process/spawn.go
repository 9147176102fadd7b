package process

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// spawn starts one process of an instance: its own process group, output
// appended straight to logPath, no pipe back to bluegreen. A goroutine
// Waits for it and closes the proc's exited channel.
func (d *Driver) spawn(slot, version string, n, port int, logPath string, restarts int) (*proc, error) {
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, fmt.Errorf("create log directory: %w", err)
	}
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if _, err := fmt.Fprintf(f, "--- bluegreen %s: start %s in slot %s, instance %d on %s, restart %d\n",
		time.Now().UTC().Format(time.RFC3339), version, slot, n, addr, restarts); err != nil {
		_ = f.Close() // already failing
		return nil, fmt.Errorf("write log %s: %w", logPath, err)
	}

	args := substitute(d.opts.Command, port, slot, version)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = d.opts.Dir
	cmd.Env = d.childEnv(port, slot, version)
	cmd.Stdout = f // an *os.File is handed to the child as is: no copying goroutine
	cmd.Stderr = f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	startErr := cmd.Start()
	// The child holds its own descriptor now; ours is not needed.
	if err := f.Close(); err != nil && startErr == nil {
		d.log.Warn("close log after start", keySlot, slot, keyInstance, n, "error", err)
	}
	if startErr != nil {
		return nil, fmt.Errorf("run %q: %w", args[0], startErr)
	}

	pid := cmd.Process.Pid
	// Until Wait reaps it, the child's /proc entry exists even if it
	// already exited, so this read cannot race with pid reuse.
	st, err := startTimeOf(pid)
	if err != nil {
		if kerr := syscall.Kill(-pid, syscall.SIGKILL); kerr != nil && !errors.Is(kerr, syscall.ESRCH) {
			err = errors.Join(err, fmt.Errorf("kill group %d: %w", pid, kerr))
		}
		_ = cmd.Wait() // reap; its status says nothing more than err
		return nil, err
	}
	p := &proc{pid: pid, pgid: pid, startTime: st, startedAt: time.Now(), owned: true, exited: make(chan struct{})}
	d.reapers.Add(1)
	go func() {
		defer d.reapers.Done()
		p.exitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// substitute replaces {port}, {slot} and {version} in every argument.
func substitute(command []string, port int, slot, version string) []string {
	r := strings.NewReplacer("{port}", strconv.Itoa(port), "{slot}", slot, "{version}", version)
	out := make([]string, len(command))
	for i, a := range command {
		out[i] = r.Replace(a)
	}
	return out
}

// childEnv is the parent's environment, then PORT, BLUEGREEN_SLOT and
// BLUEGREEN_VERSION, then Options.Env with {schema} replaced by
// Options.Schema(version); for a repeated key the last wins.
func (d *Driver) childEnv(port int, slot, version string) []string {
	env := append(os.Environ(),
		"PORT="+strconv.Itoa(port),
		"BLUEGREEN_SLOT="+slot,
		"BLUEGREEN_VERSION="+version,
	)
	for _, k := range slices.Sorted(maps.Keys(d.opts.Env)) {
		v := d.opts.Env[k]
		if d.opts.Schema != nil {
			v = strings.ReplaceAll(v, "{schema}", d.opts.Schema(version))
		}
		env = append(env, k+"="+v)
	}
	return env
}

// reservePort returns a free loopback port and marks it as the driver's.
// prefer, when non-zero, is an instance's previous port: it is kept if it
// is still free, so the instance keeps its address.
func (d *Driver) reservePort(prefer int) (int, error) {
	if prefer > 0 && portFree(prefer) {
		d.mu.Lock()
		d.ports[prefer] = true
		d.mu.Unlock()
		return prefer, nil
	}
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("find a free port: %w", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		if err := ln.Close(); err != nil {
			return 0, fmt.Errorf("find a free port: %w", err)
		}
		d.mu.Lock()
		taken := d.ports[port]
		if !taken {
			d.ports[port] = true
		}
		d.mu.Unlock()
		if !taken {
			return port, nil
		}
	}
	return 0, errors.New("find a free port: the kernel keeps returning ports already in use by this driver")
}

func portFree(port int) bool {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	return ln.Close() == nil
}
