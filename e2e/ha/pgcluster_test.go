package hae2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bluegreen-dev/bluegreen/internal/testshared"
)

// ownCluster is a PostgreSQL cluster of the test's own, which it may
// stop and start (pgtest's shared cluster is not the test's to restart):
// initdb and pg_ctl in a temporary directory, on a free loopback port,
// as user postgres when the test runs as root. Without initdb (or, as
// root, the postgres user) the test skips, or fails in CI (CI=true).
type ownCluster struct {
	t      *testing.T
	pgCtl  string
	data   string
	prefix []string
	port   int
	logf   string
}

func startOwnCluster(t *testing.T) *ownCluster {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		bins = append([]string{filepath.Dir(p)}, bins...)
	}
	var bin string
	for _, b := range bins {
		if _, err := os.Stat(filepath.Join(b, "initdb")); err == nil {
			bin = b
		}
	}
	if bin == "" {
		testshared.Unavailable(t, "no initdb and pg_ctl on PATH or in /usr/lib/postgresql/*/bin: the PostgreSQL restart test needs a cluster of its own")
	}
	dir, err := os.MkdirTemp("", "bluegreen-ha-pg-")
	if err != nil {
		t.Fatal(err)
	}
	c := &ownCluster{t: t, pgCtl: filepath.Join(bin, "pg_ctl"), data: filepath.Join(dir, "data"),
		port: freePorts(t, 1)[0], logf: filepath.Join(dir, "server.log")}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			testshared.Unavailable(t, fmt.Sprintf("running as root, initdb needs the postgres user: %v", err))
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		c.prefix = []string{"runuser", "-u", "postgres", "--"}
	}
	t.Cleanup(func() {
		_ = c.run("-D", c.data, "-m", "immediate", "-w", "stop")
		_ = os.RemoveAll(dir)
	})
	if out, err := c.cmd(filepath.Join(bin, "initdb"), "-D", c.data, "-U", "postgres", "-A", "trust", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	c.start()
	return c
}

func (c *ownCluster) cmd(name string, args ...string) *exec.Cmd {
	argv := append(append(append([]string{}, c.prefix...), name), args...)
	return exec.Command(argv[0], argv[1:]...)
}

func (c *ownCluster) run(args ...string) error {
	out, err := c.cmd(c.pgCtl, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl %v: %w\n%s", args, err, out)
	}
	return nil
}

// start starts the server (same port every time) and waits for it.
func (c *ownCluster) start() {
	c.t.Helper()
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories=%s -c fsync=off -c max_connections=100",
		c.port, filepath.Dir(c.data))
	if err := c.run("-D", c.data, "-l", c.logf, "-o", opts, "-w", "-t", "60", "start"); err != nil {
		log, _ := os.ReadFile(c.logf)
		c.t.Fatalf("%v\n%s", err, log)
	}
}

// stop stops the server the way a restart does (fast: connections end).
func (c *ownCluster) stop() {
	c.t.Helper()
	if err := c.run("-D", c.data, "-m", "fast", "-w", "stop"); err != nil {
		c.t.Fatal(err)
	}
}

// url creates a database for the test and returns its URL.
func (c *ownCluster) url() string {
	c.t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port))
	if err != nil {
		c.t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, "CREATE DATABASE ha"); err != nil {
		c.t.Fatal(err)
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/ha?sslmode=disable&connect_timeout=2", c.port)
}

// healthz reads serve's /healthz status ("ok", "degraded"; "" if it did
// not answer).
func (p *serveProc) healthz() string {
	var h struct {
		Status string `json:"status"`
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := p.adminGet(ctx, "/healthz", &h); err != nil {
		return ""
	}
	return h.Status
}
