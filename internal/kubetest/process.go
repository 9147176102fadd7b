package kubetest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// process is one program of the control plane, in a process group of its
// own, with its output in a log file.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when the process has exited and been reaped
	err  error         // cmd.Wait's result, set before done closes
}

// startProcess starts bin with args, stdout and stderr into logDir/name.log,
// and tells the watchdog its process group.
func startProcess(w *watchdog, logDir, name, bin string, args ...string) (*process, error) {
	logPath := filepath.Join(logDir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("start %s: open log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = logDir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	fmt.Fprintf(f, "kubetest: %s %s\n", bin, strings.Join(args, " "))
	err = cmd.Start()
	if closeErr := f.Close(); err == nil && closeErr != nil {
		err = closeErr
	}
	if err != nil {
		if cmd.Process != nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			_ = cmd.Wait()
		}
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := w.watch(cmd.Process.Pid); err != nil {
		return p, errors.Join(err, p.kill(10*time.Second))
	}
	return p, nil
}

// exited is the reason the process ended, or nil while it runs.
func (p *process) exited() error {
	select {
	case <-p.done:
		if p.err == nil {
			return fmt.Errorf("%s exited with status 0", p.name)
		}
		return fmt.Errorf("%s exited: %w", p.name, p.err)
	default:
		return nil
	}
}

// kill sends SIGKILL to the process group and waits up to timeout until
// the process is reaped.
func (p *process) kill(timeout time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill %s (process group %d): %w", p.name, p.cmd.Process.Pid, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("%s (pid %d) still runs %s after SIGKILL", p.name, p.cmd.Process.Pid, timeout)
	}
}

// tail is the end of the process's log, at most n bytes.
func (p *process) tail(n int64) string {
	f, err := os.Open(p.log)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("(log: %v)", err)
	}
	prefix := ""
	if fi.Size() > n {
		if _, err := f.Seek(fi.Size()-n, io.SeekStart); err != nil {
			return fmt.Sprintf("(log: %v)", err)
		}
		prefix = "…"
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(log: %v)", err)
	}
	return prefix + string(b)
}

// watchdog is a shell in a session of its own that reads process group
// ids from a pipe only this process writes to. When the pipe closes —
// however this process ends — it kills every group it was told of and
// removes its directory, if it was given one; unless it was told "clear"
// first, as a normal stop does.
type watchdog struct {
	cmd *exec.Cmd
	w   *os.File
}

const watchdogScript = `pgs= dir=$1
while read -r line; do
  case $line in
    clear) pgs= dir= ;;
    *) pgs="$pgs $line" ;;
  esac
done
for pg in $pgs; do kill -KILL -"$pg" 2>/dev/null; done
if [ -n "$dir" ]; then rm -rf "$dir"; fi
`

// startWatchdog starts the watchdog; removeDir, if not empty, is removed
// after a crash.
func startWatchdog(removeDir string) (*watchdog, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("watchdog pipe: %w", err)
	}
	cmd := exec.Command("sh", "-c", watchdogScript, "sh", removeDir)
	cmd.Stdin = r
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // not killed with our process group
	if err := cmd.Start(); err != nil {
		return nil, errors.Join(fmt.Errorf("start watchdog: %w", err), r.Close(), w.Close())
	}
	if err := r.Close(); err != nil {
		return nil, errors.Join(fmt.Errorf("close watchdog pipe: %w", err), w.Close(), cmd.Wait())
	}
	return &watchdog{cmd: cmd, w: w}, nil
}

// watch tells the watchdog of a process group.
func (d *watchdog) watch(pgid int) error {
	if _, err := fmt.Fprintf(d.w, "%d\n", pgid); err != nil {
		return fmt.Errorf("tell the watchdog of process group %d: %w", pgid, err)
	}
	return nil
}

// stop ends the watchdog after the processes it watched were stopped: it
// forgets them and the directory, so it kills and removes nothing, and exits.
func (d *watchdog) stop() error {
	_, err := fmt.Fprintln(d.w, "clear")
	err = errors.Join(err, d.w.Close(), d.cmd.Wait())
	if err != nil {
		return fmt.Errorf("stop watchdog: %w", err)
	}
	return nil
}
