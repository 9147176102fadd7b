package router

import (
	"syscall"
	"unsafe"
)

// rawRead and rawWrite are read(2) and write(2) made with RawSyscall: on
// a non-blocking socket they return at once (EAGAIN when there is nothing
// to read or no room), so the goroutine keeps its P through them. Through
// syscall.Read the scheduler is told of each: the P is marked in a system
// call, and when the kernel runs something else on that CPU in the middle
// of one (the load generator, the instance: every process here shares two
// cores), sysmon hands the P to another thread, which costs a wake-up,
// and keeps sysmon itself waking every 20 µs. Measured in bench/README.md.
// A call a signal interrupts (EINTR) is made again.
func rawRead(fd int, p []byte) (int, syscall.Errno) { return rawCall(syscall.SYS_READ, fd, p) }

func rawWrite(fd int, p []byte) (int, syscall.Errno) { return rawCall(syscall.SYS_WRITE, fd, p) }

func rawCall(trap uintptr, fd int, p []byte) (int, syscall.Errno) {
	if len(p) == 0 {
		return 0, 0
	}
	for {
		n, _, errno := syscall.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		if errno != syscall.EINTR {
			return int(n), errno
		}
	}
}
