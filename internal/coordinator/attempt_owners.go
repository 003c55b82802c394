package coordinator

import (
	"sync"

	"github.com/drover-dev/drover"
)

// maxOwners bounds how many attempts attemptOwners remembers.
const maxOwners = 1 << 17

// attemptOwners remembers which worker each attempt belongs to.
// It spares every attempt call a store read. An attempt's worker never
// changes, so a remembered owner is never wrong.
type attemptOwners struct {
	mu sync.Mutex
	m  map[string]string // attempt id -> worker id
}

func newAttemptOwners() *attemptOwners { return &attemptOwners{m: map[string]string{}} }

// get returns the worker of an attempt, if remembered.
func (o *attemptOwners) get(attemptID string) (string, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	w, ok := o.m[attemptID]
	return w, ok
}

// add remembers the workers of attempts.
// Past maxOwners the map starts over. Attempts are forgotten as they end,
// so only leaked entries are lost.
func (o *attemptOwners) add(as []drover.Attempt) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.m)+len(as) > maxOwners {
		o.m = make(map[string]string, len(as))
	}
	for _, a := range as {
		o.m[a.ID] = a.WorkerID
	}
}

// forget drops an attempt that ended.
func (o *attemptOwners) forget(attemptID string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.m, attemptID)
}
