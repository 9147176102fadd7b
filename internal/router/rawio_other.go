//go:build !linux

package router

import (
	"errors"
	"syscall"
)

// rawRead and rawWrite are syscall.Read and syscall.Write where the
// RawSyscall form is not used (see rawio_linux.go); a call a signal
// interrupts (EINTR) is made again.
func rawRead(fd int, p []byte) (int, syscall.Errno) { return retried(syscall.Read, fd, p) }

func rawWrite(fd int, p []byte) (int, syscall.Errno) { return retried(syscall.Write, fd, p) }

func retried(call func(int, []byte) (int, error), fd int, p []byte) (int, syscall.Errno) {
	for {
		n, err := call(fd, p)
		if err == nil {
			return n, 0
		}
		var errno syscall.Errno
		if !errors.As(err, &errno) {
			return 0, syscall.EIO
		}
		if errno != syscall.EINTR {
			return 0, errno
		}
	}
}
