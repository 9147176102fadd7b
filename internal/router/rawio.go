package router

import (
	"io"
	"net"
	"os"
	"syscall"
)

// The fast path's reads and writes on its sockets (the client's and the
// instances') are read(2) and write(2) on their non-blocking descriptors
// made inside RawConn's callbacks, so that Go's poller still does the
// waiting and the deadlines (rawRead and rawWrite: sysRead and sysWrite
// without telling the scheduler where the platform allows, see
// rawio_linux.go).

// sockError is err of a read or write (op) on c, in the shape c's own Read
// and Write give it.
func sockError(op string, c net.Conn, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// rawReader reads c through its RawConn (c's own Read when it has none).
type rawReader struct {
	c  net.Conn
	rc syscall.RawConn
	fn func(uintptr) bool // read, bound once
	// The read in progress inside fn.
	p   []byte
	n   int
	err error
}

func newRawReader(c net.Conn) *rawReader {
	r := &rawReader{c: c, rc: rawConnOf(c)}
	r.fn = r.read
	return r
}

func (r *rawReader) Read(p []byte) (int, error) {
	if r.rc == nil || len(p) == 0 {
		return r.c.Read(p)
	}
	r.p, r.n, r.err = p, 0, nil
	err := r.rc.Read(r.fn)
	n := r.n
	if err == nil {
		err = r.err
	}
	r.p, r.err = nil, nil
	if err != nil && err != io.EOF {
		err = sockError("read", r.c, err)
	}
	return n, err
}

func (r *rawReader) read(fd uintptr) bool {
	n, errno := rawRead(int(fd), r.p)
	switch errno {
	case 0:
		r.n = n
		if n == 0 {
			r.err = io.EOF
		}
	case syscall.EAGAIN:
		return false
	default:
		r.err = os.NewSyscallError("read", errno)
	}
	return true
}

// rawWriter writes c through its RawConn (c's own Write when it has
// none), the whole of p unless an error stops it.
type rawWriter struct {
	c  net.Conn
	rc syscall.RawConn
	fn func(uintptr) bool // write, bound once
	// The write in progress inside fn: p from n on.
	p   []byte
	n   int
	err error
}

func newRawWriter(c net.Conn) *rawWriter {
	w := &rawWriter{c: c, rc: rawConnOf(c)}
	w.fn = w.write
	return w
}

func (w *rawWriter) Write(p []byte) (int, error) {
	if w.rc == nil {
		return w.c.Write(p)
	}
	w.p, w.n, w.err = p, 0, nil
	err := w.rc.Write(w.fn)
	n := w.n
	if err == nil {
		err = w.err
	}
	w.p, w.err = nil, nil
	if err != nil {
		err = sockError("write", w.c, err)
	}
	return n, err
}

func (w *rawWriter) write(fd uintptr) bool {
	switch errno := writeSome(fd, w.p, &w.n); errno {
	case 0:
	case syscall.EAGAIN:
		return false // the poller waits until the socket takes more
	default:
		w.err = os.NewSyscallError("write", errno)
	}
	return true
}

// writeSome writes p from *n on, moving *n, until all of it is written,
// the socket takes no more (EAGAIN) or the write fails.
func writeSome(fd uintptr, p []byte, n *int) syscall.Errno {
	for *n < len(p) {
		m, errno := rawWrite(int(fd), p[*n:])
		if errno != 0 {
			return errno
		}
		*n += m
	}
	return 0
}
