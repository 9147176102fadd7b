// Package handoff replaces a running `bluegreen serve` by a new process —
// usually a new binary — without closing its listening sockets: the old
// process starts the new one with the sockets as inherited descriptors,
// waits until it says it serves, then stops accepting, lets its in-flight
// requests finish and exits. The kernel keeps each socket's accept queue
// across the two, so no connection attempt is refused.
//
// The protocol between the two processes is three environment variables
// and two pipes:
//
//	BLUEGREEN_HANDOFF_FDS     name:fd,… of the listening sockets
//	BLUEGREEN_HANDOFF_READY   fd of a pipe the new process writes "ready\n" to
//	BLUEGREEN_HANDOFF_PARENT  fd of a pipe that ends (EOF) when the old one exits
//
// Under systemd (Type=notify) the new process also tells systemd it is the
// service's main process now (MAINPID=, READY=1; NotifyAccess=all).
package handoff

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Environment variables of the protocol.
const (
	EnvFDs    = "BLUEGREEN_HANDOFF_FDS"
	EnvReady  = "BLUEGREEN_HANDOFF_READY"
	EnvParent = "BLUEGREEN_HANDOFF_PARENT"
)

const readyLine = "ready\n"

// Inherited is what a new process got from the one it replaces.
type Inherited struct {
	mu     sync.Mutex
	files  map[string]*os.File // listening sockets not taken yet
	ready  *os.File
	parent *os.File
	done   chan struct{}
}

// FromEnv returns what the environment says this process inherited, or
// nil when it was not started by a handoff. It removes the variables from
// the environment, so the release processes bluegreen starts do not see
// them.
func FromEnv() (*Inherited, error) {
	spec, ok := os.LookupEnv(EnvFDs)
	if !ok {
		return nil, nil
	}
	readySpec, parentSpec := os.Getenv(EnvReady), os.Getenv(EnvParent)
	for _, k := range []string{EnvFDs, EnvReady, EnvParent} {
		_ = os.Unsetenv(k) // cannot fail for a valid key
	}
	in := &Inherited{files: make(map[string]*os.File), done: make(chan struct{})}
	for item := range strings.SplitSeq(spec, ",") {
		if item == "" {
			continue
		}
		name, fdText, ok := strings.Cut(item, ":")
		fd, err := strconv.Atoi(fdText)
		if !ok || name == "" || err != nil || fd < 3 {
			in.Close()
			return nil, fmt.Errorf("%s=%q: want name:fd,… with fd ≥ 3", EnvFDs, spec)
		}
		in.files[name] = os.NewFile(uintptr(fd), "handoff-"+name)
	}
	var err error
	if in.ready, err = pipeFile(EnvReady, readySpec); err != nil {
		in.Close()
		return nil, err
	}
	if in.parent, err = pipeFile(EnvParent, parentSpec); err != nil {
		in.Close()
		return nil, err
	}
	go func() {
		// EOF (or any error) means the old process is gone.
		_, _ = io.Copy(io.Discard, in.parent)
		close(in.done)
	}()
	return in, nil
}

func pipeFile(key, spec string) (*os.File, error) {
	fd, err := strconv.Atoi(spec)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("%s=%q: want a file descriptor number ≥ 3", key, spec)
	}
	return os.NewFile(uintptr(fd), key), nil
}

// Names lists the inherited listeners not taken yet.
func (in *Inherited) Names() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	var out []string
	for name := range in.files {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// Listener takes the inherited listening socket named name; ok is false
// when there is none.
func (in *Inherited) Listener(name string) (ln net.Listener, ok bool, err error) {
	if in == nil {
		return nil, false, nil
	}
	in.mu.Lock()
	f, ok := in.files[name]
	delete(in.files, name)
	in.mu.Unlock()
	if !ok {
		return nil, false, nil
	}
	defer f.Close() // net.FileListener dups it
	ln, err = net.FileListener(f)
	if err != nil {
		return nil, true, fmt.Errorf("inherited %s listener (fd %d): %w", name, f.Fd(), err)
	}
	return ln, true, nil
}

// Ready tells the old process this one serves: it stops accepting and
// exits. Under systemd it also makes this process the service's main one.
func (in *Inherited) Ready() error {
	if in == nil {
		return nil
	}
	_, err := io.WriteString(in.ready, readyLine)
	if cerr := in.ready.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("tell the old process this one is ready: %w", err)
	}
	if err := Notify(fmt.Sprintf("MAINPID=%d\nREADY=1", os.Getpid())); err != nil {
		return err
	}
	return nil
}

// ParentDone is closed once the old process has exited.
func (in *Inherited) ParentDone() <-chan struct{} {
	if in == nil {
		c := make(chan struct{})
		close(c)
		return c
	}
	return in.done
}

// Close closes the inherited sockets nobody took (a listener the new
// configuration no longer has).
func (in *Inherited) Close() {
	if in == nil {
		return
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	for name, f := range in.files {
		_ = f.Close() // not ours to report: the old process still owns the socket
		delete(in.files, name)
	}
}

// A Child is the new process started by Start.
type Child struct {
	proc   *os.Process
	ready  chan error
	parent *os.File // write end of the parent pipe: open while we live
}

// Start runs exe with args, env plus the protocol's variables, and the
// listening sockets in socks (name → socket) as inherited descriptors. Its
// standard input, output and error are this process's. The child is told
// when this process exits (ParentDone).
//
// It forks with raw descriptors rather than through os/exec: handing an
// *os.File to a child puts it in blocking mode, and the mode belongs to
// the socket, shared by this process's listener, whose accept loop would
// then block in the kernel where closing it cannot end it.
func Start(exe string, args, env []string, socks map[string]syscall.Conn) (*Child, error) {
	names := slices.Sorted(maps.Keys(socks))
	fds := []uintptr{0, 1, 2}
	var spec []string
	defer func() {
		for _, fd := range fds[3:] {
			_ = syscall.Close(int(fd)) // our duplicates; the child has its own
		}
	}()
	for _, n := range names {
		fd, err := dupCloexec(socks[n])
		if err != nil {
			return nil, fmt.Errorf("handoff: %s socket: %w", n, err)
		}
		spec = append(spec, fmt.Sprintf("%s:%d", n, len(fds)))
		fds = append(fds, fd)
	}
	var ready, parent [2]int
	if err := syscall.Pipe2(ready[:], syscall.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("handoff: ready pipe: %w", err)
	}
	readyR := os.NewFile(uintptr(ready[0]), "handoff-ready")
	if err := syscall.Pipe2(parent[:], syscall.O_CLOEXEC); err != nil {
		_ = readyR.Close()
		_ = syscall.Close(ready[1])
		return nil, fmt.Errorf("handoff: parent pipe: %w", err)
	}
	parentW := os.NewFile(uintptr(parent[1]), "handoff-parent")
	readyFD, parentFD := len(fds), len(fds)+1
	fds = append(fds, uintptr(ready[1]), uintptr(parent[0]))

	env = append(withoutProtocol(env),
		EnvFDs+"="+strings.Join(spec, ","),
		EnvReady+"="+strconv.Itoa(readyFD),
		EnvParent+"="+strconv.Itoa(parentFD),
	)
	pid, err := syscall.ForkExec(exe, append([]string{exe}, args...), &syscall.ProcAttr{Env: env, Files: fds})
	if err != nil {
		_ = readyR.Close()
		_ = parentW.Close()
		return nil, fmt.Errorf("handoff: start %s: %w", exe, err)
	}
	proc, err := os.FindProcess(pid) // cannot fail on Unix
	if err != nil {
		_ = readyR.Close()
		_ = parentW.Close()
		return nil, fmt.Errorf("handoff: %w", err)
	}
	c := &Child{proc: proc, ready: make(chan error, 1), parent: parentW}
	go func() {
		defer readyR.Close()
		line, err := bufio.NewReader(io.LimitReader(readyR, 64)).ReadString('\n')
		switch {
		case line == readyLine:
			c.ready <- nil
		case err != nil:
			// The pipe ended: the child exited (or closed it) before it
			// was ready.
			c.ready <- errors.New("it exited before it was ready: " + c.exit())
		default:
			c.ready <- fmt.Errorf("it said %q instead of ready", line)
		}
	}()
	return c, nil
}

// dupCloexec duplicates the socket's descriptor, close-on-exec (so no
// other child gets it), without touching its blocking mode.
func dupCloexec(sc syscall.Conn) (uintptr, error) {
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var dup uintptr
	var dupErr error
	if err := rc.Control(func(fd uintptr) {
		r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_DUPFD_CLOEXEC, 3)
		dup, dupErr = r, nil
		if errno != 0 {
			dupErr = errno
		}
	}); err != nil {
		return 0, err
	}
	return dup, dupErr
}

// exit waits for the child to end and describes how.
func (c *Child) exit() string {
	st, err := c.proc.Wait()
	if err != nil {
		return err.Error()
	}
	return st.String()
}

func withoutProtocol(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return k == EnvFDs || k == EnvReady || k == EnvParent
	})
}

// Pid is the child's process id.
func (c *Child) Pid() int { return c.proc.Pid }

// WaitReady returns nil once the child said it serves. If it exits first,
// or ctx ends first, the handoff failed: the child is killed (if still
// running) and the error says why.
func (c *Child) WaitReady(ctx context.Context) error {
	select {
	case err := <-c.ready:
		if err != nil {
			_ = c.parent.Close()
		}
		return err
	case <-ctx.Done():
		_ = c.proc.Kill() // it may have exited meanwhile
		_ = c.parent.Close()
		return fmt.Errorf("it was not ready in time: %w", context.Cause(ctx))
	}
}
