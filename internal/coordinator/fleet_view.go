package coordinator

import (
	"sync/atomic"
	"time"

	"github.com/drover-dev/drover"
)

// fleetTTL is how long a fleetView is reused.
const fleetTTL = 1 * time.Second

// fleetView remembers the registered workers as a submission last read
// them. Submissions use it only to accept a job. A job the remembered
// fleet cannot hold is checked again against the store before it is
// refused, so a stale view never refuses a job wrongly.
//
// The view is swapped whole through an atomic pointer, so it needs no lock.
type fleetView struct {
	p atomic.Pointer[fleetSnapshot]
}

// fleetSnapshot is the workers read at one instant.
type fleetSnapshot struct {
	workers []drover.Worker
	at      time.Time
}

// recent returns the workers read less than fleetTTL before now.
// It returns nil when there are none, or when the clock went back.
func (f *fleetView) recent(now time.Time) []drover.Worker {
	s := f.p.Load()
	if s == nil || now.Sub(s.at) >= fleetTTL || now.Before(s.at) {
		return nil
	}
	return s.workers
}

// set remembers the workers read at now.
func (f *fleetView) set(ws []drover.Worker, now time.Time) {
	f.p.Store(&fleetSnapshot{workers: ws, at: now})
}

// forget makes the next submission read the workers again.
func (f *fleetView) forget() { f.p.Store(nil) }
