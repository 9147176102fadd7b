package pgtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

// connect opens a connection to u, closed when the test ends.
func connect(t *testing.T, u string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), u)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() {
		if err := conn.Close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return conn
}

// serverURL is the URL of the server test databases are made on.
func serverURL(t *testing.T) string {
	t.Helper()
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	c, err := shared.Get()
	if err != nil {
		t.Fatalf("shared cluster: %v", err)
	}
	return c.url
}

// databaseExists asks the server whether name exists.
func databaseExists(t *testing.T, server, name string) bool {
	t.Helper()
	conn := connect(t, server)
	var n int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_database WHERE datname = $1`, name).Scan(&n); err != nil {
		t.Fatalf("look up database %s: %v", name, err)
	}
	return n == 1
}

func TestURLGivesFreshDatabaseDroppedAfterTheTest(t *testing.T) {
	var first, second string
	t.Run("use", func(t *testing.T) {
		first = URL(t)
		second = URL(t)
		if first == second {
			t.Fatalf("two calls gave the same database %s", first)
		}
		conn := connect(t, first)
		var tables int
		if err := conn.QueryRow(t.Context(),
			`SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'`).Scan(&tables); err != nil {
			t.Fatalf("count tables: %v", err)
		}
		if tables != 0 {
			t.Errorf("fresh database has %d tables", tables)
		}
		if _, err := conn.Exec(t.Context(), `CREATE TABLE t (id int)`); err != nil {
			t.Fatalf("create table: %v", err)
		}
		// A connection left open does not stop the drop.
		_ = connect(t, second)
	})
	if t.Skipped() {
		return
	}
	server := serverURL(t)
	for _, u := range []string{first, second} {
		parsed, err := url.Parse(u)
		if err != nil {
			t.Fatalf("parse %s: %v", u, err)
		}
		name := strings.TrimPrefix(parsed.Path, "/")
		if !strings.HasPrefix(name, "bgtest_") {
			t.Errorf("database name %q does not start with bgtest_", name)
		}
		if databaseExists(t, server, name) {
			t.Errorf("database %s still exists after its test", name)
		}
	}
}

func TestParallelURLs(t *testing.T) {
	for i := range 4 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			conn := connect(t, URL(t))
			if _, err := conn.Exec(t.Context(), `CREATE TABLE t (id int)`); err != nil {
				t.Fatalf("create table: %v", err)
			}
		})
	}
}

func TestDatabaseName(t *testing.T) {
	seen := map[string]bool{}
	for _, name := range []string{
		"TestX", "TestX", "TestSuite/Some-Case#01",
		"TestAVeryLongNameThatGoesOnAndOn/AndHasSubtests/AndMoreSubtestsStill/Deeper",
	} {
		db, err := databaseName(name)
		if err != nil {
			t.Fatalf("database name for %s: %v", name, err)
		}
		if len(db) > 63 {
			t.Errorf("database name %q is longer than PostgreSQL's 63 bytes", db)
		}
		if strings.Trim(db, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
			t.Errorf("database name %q has characters outside [a-z0-9_]", db)
		}
		if seen[db] {
			t.Errorf("database name %q given twice", db)
		}
		seen[db] = true
	}
}

func TestVersionOf(t *testing.T) {
	for dir, want := range map[string]int{
		"/usr/lib/postgresql/16/bin": 16,
		"/usr/lib/postgresql/9/bin":  9,
		"/usr/pgsql-15/bin":          15,
		"/opt/weird/bin":             0,
	} {
		if got := versionOf(dir); got != want {
			t.Errorf("versionOf(%s) = %d, want %d", dir, got, want)
		}
	}
}

func TestUnavailableGivesTheReason(t *testing.T) {
	msg := unavailableMsg(errors.New("no initdb here"))
	if !strings.Contains(msg, "no initdb here") || !strings.Contains(msg, EnvURL) {
		t.Errorf("message %q does not give the reason and the variable", msg)
	}
}

// crashChildEnv marks the child process of TestClusterRemovedWhenBinaryDies.
const crashChildEnv = "PGTEST_CRASH_CHILD"

// TestCrashChild is the child: it starts a cluster and is killed without
// any cleanup.
func TestCrashChild(t *testing.T) {
	if os.Getenv(crashChildEnv) != "1" {
		t.Skip("only runs as the child of TestClusterRemovedWhenBinaryDies")
	}
	u := URL(t)
	c, err := shared.Get()
	if err != nil {
		t.Fatalf("cluster: %v", err)
	}
	fmt.Printf("DIR=%s\nURL=%s\n", c.dir, u)
	if err := syscall.Kill(os.Getpid(), syscall.SIGKILL); err != nil {
		t.Fatalf("kill myself: %v", err)
	}
	select {} // SIGKILL arrives
}

func TestClusterRemovedWhenBinaryDies(t *testing.T) {
	if os.Getenv(crashChildEnv) == "1" {
		t.Skip("this is the child")
	}
	if _, err := findBinaries(); err != nil {
		unavailable(t, err)
	}
	if _, err := serverUser(); err != nil {
		unavailable(t, err)
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestCrashChild$", "-test.v")
	cmd.Env = append(os.Environ(), crashChildEnv+"=1", EnvURL+"=")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("pipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	var dir, u string
	var transcript strings.Builder
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		transcript.WriteString(line + "\n")
		if v, ok := strings.CutPrefix(line, "DIR="); ok {
			dir = v
		}
		if v, ok := strings.CutPrefix(line, "URL="); ok {
			u = v
		}
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL: %v\n%s", err, transcript.String())
	}
	if dir == "" || u == "" {
		t.Fatalf("child did not report its cluster:\n%s", transcript.String())
	}
	if !strings.HasPrefix(filepath.Base(dir), "bluegreen-pgtest-") {
		t.Fatalf("odd cluster directory %q", dir)
	}

	// The watchdog stops the server and removes the directory.
	deadline := time.Now().Add(60 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		_, statErr := os.Stat(dir)
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		conn, connErr := pgx.Connect(ctx, u)
		cancel()
		if connErr == nil {
			if err := conn.Close(t.Context()); err != nil {
				t.Errorf("close: %v", err)
			}
		}
		if errors.Is(statErr, os.ErrNotExist) && connErr != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("60s after the child died: directory %s stat err %v, server connect err %v", dir, statErr, connErr)
		}
		<-tick.C
	}
}
