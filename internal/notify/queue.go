package notify

import (
	"context"
	"sync"
)

// queue is one URL's bounded FIFO of messages with a single reader. push
// never blocks: when the queue is full it drops the oldest message.
type queue struct {
	mu     sync.Mutex
	items  []*encoded
	max    int
	closed bool
	// ready holds a token when items or closed changed since the reader
	// last looked.
	ready chan struct{}
}

func newQueue(size int) *queue {
	return &queue{items: make([]*encoded, 0, size), max: size, ready: make(chan struct{}, 1)}
}

// push appends m and returns the message dropped to make room, or nil.
func (q *queue) push(m *encoded) (dropped *encoded) {
	q.mu.Lock()
	if len(q.items) >= q.max {
		dropped = q.items[0]
		q.items[0] = nil
		q.items = q.items[1:]
	}
	q.items = append(q.items, m)
	q.mu.Unlock()
	q.signal()
	return dropped
}

// pop waits for the oldest message. It returns false once the queue is
// closed and empty, or when ctx is done (leaving the rest queued).
func (q *queue) pop(ctx context.Context) (*encoded, bool) {
	for {
		if ctx.Err() != nil {
			return nil, false
		}
		q.mu.Lock()
		if len(q.items) > 0 {
			m := q.items[0]
			q.items[0] = nil
			q.items = q.items[1:]
			q.mu.Unlock()
			return m, true
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return nil, false
		}
		select {
		case <-q.ready:
		case <-ctx.Done():
			return nil, false
		}
	}
}

// close lets the reader finish what is queued and then stop.
func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

// len is the number of messages waiting.
func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

func (q *queue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}
