//go:build !linux

package router

import (
	"errors"
	"syscall"
)

// rawRead and rawWrite are syscall.Read and syscall.Write where the
// RawSyscall form is not used (see rawio_linux.go).
func rawRead(fd int, p []byte) (int, syscall.Errno) { return errnoOf(syscall.Read(fd, p)) }

func rawWrite(fd int, p []byte) (int, syscall.Errno) { return errnoOf(syscall.Write(fd, p)) }

func errnoOf(n int, err error) (int, syscall.Errno) {
	if err == nil {
		return n, 0
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return 0, errno
	}
	return 0, syscall.EIO
}
