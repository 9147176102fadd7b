package sqlite

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ioError adds to err, when it is SQLite's I/O error, what the state
// file's file system says: SQLite reports a write to a file system gone
// read-only (as ext4 does on a disk error) as "disk I/O error" alone.
func (s *Store) ioError(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_IOERR {
		return err
	}
	// A probe file, not access(2): ext4's emergency read-only state
	// fails writes with EROFS but leaves the mount read-write.
	f, perr := os.CreateTemp(filepath.Dir(s.path), ".bluegreen-write-probe-*")
	if perr == nil {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return err
	}
	if errors.Is(perr, syscall.EROFS) {
		return fmt.Errorf("%w: the file system of the state file %s is read-only (%v): nothing can be saved until it is writable again (repair it, then restart serve)", err, s.path, syscall.EROFS)
	}
	return fmt.Errorf("%w (the state file's directory: %v)", err, perr)
}
