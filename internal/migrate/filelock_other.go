//go:build !unix

package migrate

import "errors"

// tryLockFile is not implemented off Unix: SQLite migrations need flock.
func tryLockFile(string) (func() error, bool, error) {
	return nil, false, errors.New("the SQLite runner lock needs flock, which this platform lacks")
}
