package coordinator

import (
	"sync"

	"github.com/drover-dev/drover"
)

// Hub is the in-memory stream of job and worker changes behind GET /events.
// It keeps the last N events in a ring. A reconnecting client then resumes
// from its Last-Event-ID without gaps or duplicates. A client that fell
// further behind is told to reload, as Since reports ok=false.
type Hub struct {
	mu     sync.Mutex
	ring   []drover.Event
	next   int64 // id of the next event; ids start at 1
	wait   chan struct{}
	closed bool
	done   chan struct{}
}

// NewHub returns a hub that can replay the last size events.
func NewHub(size int) *Hub {
	return &Hub{ring: make([]drover.Event, size), next: 1, wait: make(chan struct{}), done: make(chan struct{})}
}

// Publish appends an event and wakes every waiter.
func (h *Hub) Publish(ev drover.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	ev.ID = h.next
	h.ring[h.next%int64(len(h.ring))] = ev
	h.next++
	close(h.wait)
	h.wait = make(chan struct{})
}

// Since returns the events after id, at most the ring's. It also returns a
// channel closed at the next Publish. ok is false when events after id
// were already dropped. A negative id means from now on, with no replay.
// An id of 0 replays everything kept.
func (h *Hub) Since(id int64) (evs []drover.Event, wait <-chan struct{}, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	last := h.next - 1
	switch {
	case id < 0:
		return nil, h.wait, true
	case id > last:
		// An id from an earlier life of the coordinator: the client reloads.
		return nil, h.wait, false
	}
	oldest := max(1, h.next-int64(len(h.ring)))
	if id+1 < oldest {
		return nil, h.wait, false
	}
	for i := id + 1; i <= last; i++ {
		evs = append(evs, h.ring[i%int64(len(h.ring))])
	}
	return evs, h.wait, true
}

// Last is the id of the newest event (0 when none).
func (h *Hub) Last() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.next - 1
}

// Close wakes every waiter for good.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.done)
	}
}

// Done is closed when the hub closes (the coordinator stops).
func (h *Hub) Done() <-chan struct{} { return h.done }
