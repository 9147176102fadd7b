package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// startTimeout bounds initdb plus server start.
const startTimeout = 2 * time.Minute

// cluster is a throwaway PostgreSQL server in a temporary directory.
type cluster struct {
	dir  string // temporary root: data/, server.log, the socket
	data string
	bins binaries
	as   *osUser // run the server binaries as this user (nil: as ourselves)
	url  string  // superuser URL of the postgres database

	// watchdog stops the cluster if this process dies without stop;
	// closing keepalive (its stdin) tells it the process is gone.
	watchdog  *exec.Cmd
	keepalive *os.File
}

// startCluster runs initdb and starts a server on a free loopback port.
func startCluster() (_ *cluster, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()

	bins, err := findBinaries()
	if err != nil {
		return nil, err
	}
	as, err := serverUser()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "bluegreen-pgtest-")
	if err != nil {
		return nil, fmt.Errorf("create cluster directory: %w", err)
	}
	c := &cluster{dir: dir, data: filepath.Join(dir, "data"), bins: bins, as: as}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.stop())
		}
	}()
	if as != nil {
		if err := os.Chown(dir, as.uid, as.gid); err != nil {
			return nil, fmt.Errorf("give %s to user %s: %w", dir, as.name, err)
		}
		if out, err := c.run(ctx, "test", "-w", dir, "-a", "-x", dir); err != nil {
			return nil, fmt.Errorf("user %s cannot use %s (is a parent directory private? set TMPDIR): %w\n%s", as.name, dir, err, out)
		}
	}
	if err := c.startWatchdog(); err != nil {
		return nil, err
	}
	if out, err := c.run(ctx, bins.initdb, "-D", c.data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	// Another process may take the free port before the server binds it.
	for attempt := 1; ; attempt++ {
		err := c.startServer(ctx)
		if err == nil {
			break
		}
		if attempt == 3 || !strings.Contains(err.Error(), "could not bind") {
			return nil, err
		}
	}
	return c, nil
}

// startServer starts the server on a free port and waits until it accepts
// connections.
func (c *cluster) startServer(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	logFile := filepath.Join(c.dir, "server.log")
	opts := strings.Join([]string{
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=" + shellQuote(c.dir),
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=200",
	}, " ")
	out, err := c.run(ctx, c.bins.pgCtl, "-D", c.data, "-l", logFile, "-o", opts, "-w", "-t", "60", "start")
	if err != nil {
		log, _ := os.ReadFile(logFile)
		return fmt.Errorf("start server on port %d: %w\n%s\n%s", port, err, out, tail(string(log), 2000))
	}
	c.url = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	conn, err := pgx.Connect(ctx, c.url)
	if err != nil {
		return fmt.Errorf("connect to the started server on port %d: %w", port, err)
	}
	if err := conn.Close(ctx); err != nil {
		return fmt.Errorf("close connection to the started server: %w", err)
	}
	return nil
}

// stop stops the server if it runs, removes the directory and ends the
// watchdog. It is safe on a partly started cluster.
func (c *cluster) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var errs []error
	if _, err := os.Stat(filepath.Join(c.data, "postmaster.pid")); err == nil {
		if out, err := c.run(ctx, c.bins.pgCtl, "-D", c.data, "-m", "immediate", "-w", "stop"); err != nil {
			errs = append(errs, fmt.Errorf("pg_ctl stop: %w\n%s", err, out))
		}
	}
	if err := os.RemoveAll(c.dir); err != nil {
		errs = append(errs, fmt.Errorf("remove cluster directory: %w", err))
	}
	if c.keepalive != nil {
		if err := c.keepalive.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close watchdog pipe: %w", err))
		}
		if err := c.watchdog.Wait(); err != nil {
			errs = append(errs, fmt.Errorf("watchdog: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stop throwaway cluster in %s: %w", c.dir, err)
	}
	return nil
}

// startWatchdog starts a shell in its own session that blocks reading a
// pipe only this process writes to. When this process ends, however it
// ends, the pipe closes and the shell stops the server and removes the
// directory. After a normal stop it finds nothing left to do.
func (c *cluster) startWatchdog() error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("watchdog pipe: %w", err)
	}
	stop := append(c.prefix(), c.bins.pgCtl, "-D", c.data, "-m", "immediate", "-w", "stop")
	for i := range stop {
		stop[i] = shellQuote(stop[i])
	}
	script := fmt.Sprintf(`cat >/dev/null
if [ -f %s ]; then %s; fi
rm -rf %s`, shellQuote(filepath.Join(c.data, "postmaster.pid")), strings.Join(stop, " "), shellQuote(c.dir))
	cmd := exec.Command("sh", "-c", script)
	cmd.Stdin = r
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // not killed with our process group
	if err := cmd.Start(); err != nil {
		return errors.Join(fmt.Errorf("start watchdog: %w", err), r.Close(), w.Close())
	}
	if err := r.Close(); err != nil {
		return errors.Join(fmt.Errorf("close watchdog pipe: %w", err), w.Close())
	}
	c.watchdog, c.keepalive = cmd, w
	return nil
}

// run runs a command as the server user and returns its combined output.
func (c *cluster) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	argv := append(c.prefix(), name)
	argv = append(argv, args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = c.dir // the server user may not be able to enter our cwd
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd.CombinedOutput()
}

// prefix is what runs a command as the server user: empty, or runuser or
// setpriv when we are root.
func (c *cluster) prefix() []string {
	if c.as == nil {
		return nil
	}
	return c.as.prefix
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	return port, nil
}

// shellQuote quotes s for sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// tail is the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
