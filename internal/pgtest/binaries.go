package pgtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// binaries are the PostgreSQL server programs a cluster needs.
type binaries struct {
	initdb, pgCtl string
}

// findBinaries looks for initdb and pg_ctl on PATH, then in the usual
// package locations (Debian's /usr/lib/postgresql/N/bin, the PGDG RPMs'
// /usr/pgsql-N/bin), newest version first.
func findBinaries() (binaries, error) {
	var dirs []string
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dirs = append(dirs, filepath.Dir(p))
	}
	for _, pattern := range []string{"/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin"} {
		found, err := filepath.Glob(pattern)
		if err != nil {
			return binaries{}, fmt.Errorf("look for PostgreSQL in %s: %w", pattern, err)
		}
		slices.SortFunc(found, func(a, b string) int { return versionOf(b) - versionOf(a) })
		dirs = append(dirs, found...)
	}
	for _, dir := range dirs {
		b := binaries{initdb: filepath.Join(dir, "initdb"), pgCtl: filepath.Join(dir, "pg_ctl")}
		if executable(b.initdb) && executable(b.pgCtl) && executable(filepath.Join(dir, "postgres")) {
			return b, nil
		}
	}
	return binaries{}, errors.New("initdb, pg_ctl and postgres not found together on PATH, in /usr/lib/postgresql/*/bin or /usr/pgsql-*/bin")
}

// versionOf is the major version in a path like /usr/lib/postgresql/16/bin
// or /usr/pgsql-16/bin; 0 (sorted last) if there is none.
func versionOf(binDir string) int {
	name := strings.TrimPrefix(filepath.Base(filepath.Dir(binDir)), "pgsql-")
	n, err := strconv.Atoi(name)
	if err != nil {
		return 0
	}
	return n
}

// executable reports whether path is a regular file someone may execute.
func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// osUser is the system user the server runs as when we are root.
type osUser struct {
	name     string
	uid, gid int
	prefix   []string // command prefix that runs a program as this user
}

// serverUser is nil when we are not root. As root it is the postgres
// system user, since initdb and postgres refuse to run as root.
func serverUser() (*osUser, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, initdb needs another user, and there is no postgres system user: %w", err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return nil, fmt.Errorf("user postgres: uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return nil, fmt.Errorf("user postgres: gid %q: %w", u.Gid, err)
	}
	as := &osUser{name: u.Username, uid: uid, gid: gid}
	if p, err := exec.LookPath("runuser"); err == nil {
		as.prefix = []string{p, "-u", u.Username, "--"}
	} else if p, err := exec.LookPath("setpriv"); err == nil {
		as.prefix = []string{p, "--reuid=" + u.Uid, "--regid=" + u.Gid, "--init-groups", "--"}
	} else {
		return nil, errors.New("running as root, initdb must run as user postgres, but neither runuser nor setpriv is on PATH")
	}
	return as, nil
}
