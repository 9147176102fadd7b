package deploy

import (
	"sync"
	"sync/atomic"

	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// hub fans persisted events out to subscribers (SSE streams, webhooks).
// Publishing never blocks: a subscriber whose buffer is full misses the
// event, and the miss is counted.
type hub struct {
	mu      sync.Mutex
	subs    map[int]chan store.Event
	nextID  int
	dropped atomic.Uint64
}

func newHub() *hub { return &hub{subs: map[int]chan store.Event{}} }

// subscribe registers a subscriber with a buffer of at least one event.
func (h *hub) subscribe(buffer int) (<-chan store.Event, func()) {
	if buffer < 1 {
		buffer = 1
	}
	ch := make(chan store.Event, buffer)
	h.mu.Lock()
	id := h.nextID
	h.nextID++
	h.subs[id] = ch
	h.mu.Unlock()
	var once sync.Once
	cancel := func() {
		once.Do(func() {
			h.mu.Lock()
			delete(h.subs, id)
			h.mu.Unlock()
			close(ch)
		})
	}
	return ch, cancel
}

// publish offers ev to every subscriber without waiting.
func (h *hub) publish(ev store.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ch := range h.subs {
		select {
		case ch <- ev:
		default:
			h.dropped.Add(1)
		}
	}
}

// Subscribe streams every event the controller persists from now on (the
// store's ID of an event is not known here and is zero). A subscriber that
// does not keep up misses events rather than slowing the controller; see
// DroppedEvents. cancel unsubscribes and closes the channel; it may be
// called more than once.
func (c *Controller) Subscribe(buffer int) (events <-chan store.Event, cancel func()) {
	return c.events.subscribe(buffer)
}

// DroppedEvents counts events that subscribers missed because their buffer
// was full.
func (c *Controller) DroppedEvents() uint64 { return c.events.dropped.Load() }
