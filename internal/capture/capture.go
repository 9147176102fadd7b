// Package capture collects output that several goroutines write — a child
// process's stdout and stderr, a logger — for tests to read while it grows.
package capture

import (
	"bytes"
	"sync"
)

// Buffer is an io.Writer safe for concurrent use; the zero value is empty
// and ready.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
