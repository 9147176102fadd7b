package process

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"time"
)

// rotateIfLarge rotates the live log at path when it is over max bytes:
// path.2 → path.3, path.1 → path.2, a copy of path → path.1, then path is
// truncated. The child keeps writing to the same file: it opened it with
// O_APPEND, so its next write lands at the new end, offset 0. Lines written
// between the copy and the truncation are lost; that is the price of not
// piping the output through bluegreen. It reports whether it rotated.
func rotateIfLarge(path string, max int64) (bool, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("rotate log %s: %w", path, err)
	}
	if st.Size() <= max {
		return false, nil
	}
	for i := keptLogs - 1; i >= 1; i-- {
		from, to := path+"."+strconv.Itoa(i), path+"."+strconv.Itoa(i+1)
		if err := os.Rename(from, to); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("rotate log %s: %w", path, err)
		}
	}
	if err := copyFile(path, path+".1"); err != nil {
		return false, fmt.Errorf("rotate log %s: %w", path, err)
	}
	if err := os.Truncate(path, 0); err != nil {
		return false, fmt.Errorf("rotate log %s: %w", path, err)
	}
	return true, nil
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer func() { _ = src.Close() }() // read-only: a close error loses nothing
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		_ = dst.Close() // already failing
		return err
	}
	return dst.Close()
}

// rotateLoop checks every instance log until quit is closed.
func (d *Driver) rotateLoop() {
	defer d.wg.Done()
	t := time.NewTicker(d.t.rotate)
	defer t.Stop()
	for {
		select {
		case <-d.quit:
			return
		case <-t.C:
		}
		for _, path := range d.logPaths() {
			rotated, err := rotateIfLarge(path, d.opts.LogMaxBytes)
			if err != nil {
				d.log.Warn("log rotation failed", "error", err)
			} else if rotated {
				d.log.Debug("rotated instance log", "log", path)
			}
		}
	}
}
