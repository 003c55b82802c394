package coordinator

import (
	"sync"
	"sync/atomic"
)

// watchers lets any number of followers of a job wait for its next change.
// Each follower has its own channel of capacity 1.
// Each also has a flag that says the job's state changed, as opposed to new
// output only. A follower then reads the job again only when it must.
// Followers read the store again after a wake-up, so coalesced wake-ups
// lose nothing.
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

// StateChanged reports whether the job's state changed since the last call.
// It clears the flag.
func (w *Watcher) StateChanged() bool { return w.state.Swap(false) }

// Stop ends the subscription.
func (w *Watcher) Stop() { w.stop() }

func newWatchers() *watchers { return &watchers{m: map[string]map[*Watcher]struct{}{}} }

// watch subscribes a new follower to the job's changes.
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
	// A second Stop must not delete a later follower's set of the same job.
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

// notify wakes the job's followers.
// A true state says the job itself changed.
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
