package coordinator

import "sync"

// pollWakeups wakes the long-polls of workers.
// It hands out one channel per worker id, of capacity 1.
// A notify made before anyone waits is kept. A wake-up that comes between
// a poll's store read and its wait is then never lost.
// Many notifies before a wait coalesce into one wake-up. The poll reads the
// store again after each, so it loses nothing.
type pollWakeups struct {
	mu sync.Mutex
	ch map[string]chan struct{}
}

func newPollWakeups() *pollWakeups { return &pollWakeups{ch: map[string]chan struct{}{}} }

// get returns the worker's channel, made on first use.
func (p *pollWakeups) get(workerID string) chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.ch[workerID]
	if !ok {
		c = make(chan struct{}, 1)
		p.ch[workerID] = c
	}
	return c
}

// notify wakes the worker's poll, now or when it next waits.
func (p *pollWakeups) notify(workerID string) {
	select {
	case p.get(workerID) <- struct{}{}:
	default:
	}
}

// forget drops the channel of a worker that left.
func (p *pollWakeups) forget(workerID string) {
	p.mu.Lock()
	delete(p.ch, workerID)
	p.mu.Unlock()
}
