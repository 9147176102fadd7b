package verify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/config"
)

// tailLines is how many of a failing command's last output lines the
// reason shows.
const tailLines = 40

// commandOnce runs the check's program once in its own process group with
// TEST_URL, BLUEGREEN_SLOT and BLUEGREEN_VERSION set. Exit 0 passes. At
// the timeout (or when ctx ends) the whole group is killed, so a test
// runner's browsers and servers go too.
func (r *Runner) commandOnce(ctx context.Context, o Options, c *config.Check) attempt {
	limit := timeout(c)
	argv := c.Command
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = o.Dir
	cmd.Env = append(os.Environ(),
		"TEST_URL="+strings.TrimRight(o.BaseURL, "/"),
		"BLUEGREEN_SLOT="+string(o.Slot),
		"BLUEGREEN_VERSION="+o.Version,
	)
	out := newTail(tailLines, 64<<10)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A child that outlives the group kill and holds the output open does
	// not hold the check.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return failed("start %s: %v", argv[0], err)
	}
	pgid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	timer := time.NewTimer(limit)
	defer timer.Stop()
	var err error
	var why string
	select {
	case err = <-done:
	case <-timer.C:
		why = fmt.Sprintf("timed out after %s; its process group was killed", config.Duration(limit))
	case <-ctx.Done():
		why = fmt.Sprintf("stopped (%v); its process group was killed", context.Cause(ctx))
	}
	// Kill the group in every case: a suite's leftovers (servers,
	// browsers) must not outlive the check. ESRCH means none were left.
	if kerr := syscall.Kill(-pgid, syscall.SIGKILL); kerr != nil && !errors.Is(kerr, syscall.ESRCH) {
		r.log.Warn("kill command process group", "check", c.Name, "pgid", pgid, "error", kerr)
	}
	if why != "" {
		<-done
		return failed("%s%s", why, out.reasonTail())
	}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return attempt{}
	case errors.As(err, &exitErr):
		return failed("%s %s%s", argv[0], exitErr.ProcessState, out.reasonTail())
	default:
		return failed("%s: %v%s", argv[0], err, out.reasonTail())
	}
}

// tail keeps the last lines of a stream, bounded in lines and bytes.
type tail struct {
	mu       sync.Mutex
	maxLines int
	maxBytes int
	lines    []string // complete lines, oldest first
	partial  []byte   // the line being written
	dropped  bool     // some output is not kept
}

func newTail(lines, bytes int) *tail { return &tail{maxLines: lines, maxBytes: bytes} }

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			t.partial = append(t.partial, p...)
			if len(t.partial) > t.maxBytes {
				t.partial = t.partial[len(t.partial)-t.maxBytes:]
				t.dropped = true
			}
			break
		}
		t.partial = append(t.partial, p[:i]...)
		t.push(string(t.partial))
		t.partial = t.partial[:0]
		p = p[i+1:]
	}
	return n, nil
}

func (t *tail) push(line string) {
	if len(line) > 1000 {
		line = line[:997] + "..."
	}
	t.lines = append(t.lines, line)
	size := 0
	for _, l := range t.lines {
		size += len(l) + 1
	}
	for len(t.lines) > t.maxLines || (size > t.maxBytes && len(t.lines) > 1) {
		size -= len(t.lines[0]) + 1
		t.lines = t.lines[1:]
		t.dropped = true
	}
}

// String is the kept output, the partial last line included.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	ls := append([]string(nil), t.lines...)
	if len(t.partial) > 0 {
		ls = append(ls, string(t.partial))
	}
	if len(ls) > t.maxLines {
		ls = ls[len(ls)-t.maxLines:]
	}
	return strings.Join(ls, "\n")
}

// reasonTail is the output for a reason: empty, or a heading and the
// lines.
func (t *tail) reasonTail() string {
	s := t.String()
	if strings.TrimSpace(s) == "" {
		return "; no output"
	}
	t.mu.Lock()
	head := "; output:"
	if t.dropped {
		head = "; output (its end):"
	}
	t.mu.Unlock()
	return head + "\n" + s
}
