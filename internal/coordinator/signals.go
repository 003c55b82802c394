package coordinator

import (
	"sync"
	"sync/atomic"
)

// signals hands out one wake-up channel (capacity 1) per key, for the
// long-polls of workers. A notify before anyone waits is kept, so a wake-up
// between a store read and the wait is never lost.
type signals struct {
	mu sync.Mutex
	ch map[string]chan struct{}
}

func newSignals() *signals { return &signals{ch: map[string]chan struct{}{}} }

func (s *signals) get(key string) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.ch[key]
	if !ok {
		c = make(chan struct{}, 1)
		s.ch[key] = c
	}
	return c
}

func (s *signals) notify(key string) {
	select {
	case s.get(key) <- struct{}{}:
	default:
	}
}

func (s *signals) forget(key string) {
	s.mu.Lock()
	delete(s.ch, key)
	s.mu.Unlock()
}

// watchers lets any number of followers of a job wait for its next change.
// Each follower has its own channel of capacity 1 and a flag that says the
// job's state changed (as opposed to new output only), so a follower re-reads
// the job only when it must. Followers re-read the store after a wake-up, so
// coalesced wake-ups lose nothing.
type watchers struct {
	mu sync.Mutex
	m  map[string]map[*Watcher]struct{}
}

// Watcher is one follower's subscription to a job's changes.
type Watcher struct {
	C     chan struct{} // receives after each change
	state atomic.Bool
	stop  func()
}

// StateChanged reports (and clears) whether the job's state changed since
// the last call.
func (w *Watcher) StateChanged() bool { return w.state.Swap(false) }

// Stop ends the subscription.
func (w *Watcher) Stop() { w.stop() }

func newWatchers() *watchers { return &watchers{m: map[string]map[*Watcher]struct{}{}} }

func (ws *watchers) watch(id string) *Watcher {
	w := &Watcher{C: make(chan struct{}, 1)}
	w.state.Store(true) // the first read must fetch the job
	ws.mu.Lock()
	set, ok := ws.m[id]
	if !ok {
		set = map[*Watcher]struct{}{}
		ws.m[id] = set
	}
	set[w] = struct{}{}
	ws.mu.Unlock()
	// Once: a second Stop must not delete a later follower's set of the same job.
	w.stop = sync.OnceFunc(func() {
		ws.mu.Lock()
		delete(set, w)
		if len(set) == 0 {
			delete(ws.m, id)
		}
		ws.mu.Unlock()
	})
	return w
}

// notify wakes the job's followers; state says the job itself changed.
func (ws *watchers) notify(id string, state bool) {
	ws.mu.Lock()
	for w := range ws.m[id] {
		if state {
			w.state.Store(true)
		}
		select {
		case w.C <- struct{}{}:
		default:
		}
	}
	ws.mu.Unlock()
}
