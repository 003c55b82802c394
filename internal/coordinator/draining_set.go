package coordinator

import (
	"sync"

	"github.com/drover-dev/drover"
)

// drainingSet remembers which workers are DRAINING.
// A long-poll with nothing to hand over reads it to learn whether to tell
// its worker to drain. Without it the poll would read the worker from the
// store.
//
// A worker becomes DRAINING only through this coordinator. Drain and a
// heartbeat that says so both note it before they wake the poll. Start
// reads the workers already DRAINING. Every heartbeat notes what the store
// says. A worker that leaves or is found lost is forgotten.
//
// One race is allowed. A heartbeat may read its worker just before a drain
// and note it just after. The polls then miss the drain until the next
// heartbeat, whose own answer tells the worker anyway. A drain made by
// another coordinator reaches the worker the same way.
type drainingSet struct {
	mu sync.Mutex
	m  map[string]struct{} // ids of DRAINING workers
}

func newDrainingSet() *drainingSet { return &drainingSet{m: map[string]struct{}{}} }

// has reports whether the worker is known to be DRAINING.
func (d *drainingSet) has(workerID string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.m[workerID]
	return ok
}

// note records a worker's state as the store gave it.
func (d *drainingSet) note(workerID string, st drover.WorkerState) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if st == drover.WorkerDraining {
		d.m[workerID] = struct{}{}
	} else {
		delete(d.m, workerID)
	}
}

// forget drops a worker that left or was lost.
func (d *drainingSet) forget(workerID string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.m, workerID)
}
