//go:build unix

package migrate

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// tryLockFile takes an exclusive flock on path without blocking; ok is
// false when another process holds it. The kernel drops the lock when the
// process dies, so a killed runner never leaves it behind.
func tryLockFile(path string) (release func() error, ok bool, err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, false, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		cerr := f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, cerr
		}
		return nil, false, errors.Join(fmt.Errorf("flock: %w", err), cerr)
	}
	return func() error {
		return errors.Join(syscall.Flock(int(f.Fd()), syscall.LOCK_UN), f.Close())
	}, true, nil
}
