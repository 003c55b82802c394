package coordinator

import (
	"sync"
	"time"

	"github.com/drover-dev/drover"
)

// Bounds of memo.
const (
	maxOwners = 1 << 17         // attempts whose worker is remembered
	fleetTTL  = 1 * time.Second // how long the capacities seen at submission are reused
)

// memo keeps in memory what hot calls would otherwise read from the store
// each time, where using it cannot let anything wrong through:
//   - a worker's verified secret hash, which never changes (a worker that
//     registers again gets a new id); forgotten when the worker leaves;
//   - an attempt's worker, which never changes;
//   - the registered workers' capacities, used at submission only to
//     accept a job: a job the remembered fleet could not hold is checked
//     again against the store before it is refused;
//   - which workers are DRAINING, so that a long-poll with nothing to hand
//     over need not read its worker to learn whether to tell it to drain.
//     A worker becomes DRAINING only through this coordinator (Drain, or
//     its heartbeat saying so), which notes it before it wakes the poll;
//     Start reads the DRAINING workers, every heartbeat notes what the
//     store says, and a worker that leaves or is found lost is forgotten.
//     A heartbeat that read its worker just before a drain and notes it
//     just after can hide the drain from the polls until the next
//     heartbeat, whose own answer tells the worker anyway.
//
// A restarted coordinator, or another one sharing the store, reads them
// again; the store stays the source of truth (a drain made by another
// coordinator would reach a worker with its next heartbeat's answer).
type memo struct {
	mu      sync.Mutex
	secrets map[string][32]byte // worker id -> sha256 of its secret
	owners  map[string]string   // attempt id -> worker id
	fleet   []drover.Worker     // capacities at submission; nil: read again
	fleetAt time.Time
	drains  map[string]bool // worker id -> DRAINING
}

func newMemo() *memo {
	return &memo{secrets: map[string][32]byte{}, owners: map[string]string{}, drains: map[string]bool{}}
}

func (m *memo) secret(workerID string) ([32]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h, ok := m.secrets[workerID]
	return h, ok
}

func (m *memo) setSecret(workerID string, h [32]byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.secrets[workerID] = h
}

// forgetWorker drops what is known of a worker that left, and the fleet.
func (m *memo) forgetWorker(workerID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.secrets, workerID)
	delete(m.drains, workerID)
	m.fleet = nil
}

// draining reports whether the worker is known to be DRAINING.
func (m *memo) draining(workerID string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.drains[workerID]
}

// noteState records a worker's state as the store gave it.
func (m *memo) noteState(workerID string, st drover.WorkerState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if st == drover.WorkerDraining {
		m.drains[workerID] = true
	} else {
		delete(m.drains, workerID)
	}
}

func (m *memo) owner(attemptID string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w, ok := m.owners[attemptID]
	return w, ok
}

// setOwners remembers attempts' workers. Past maxOwners the map starts over:
// ended attempts are forgotten as they end, so only leaks are lost.
func (m *memo) setOwners(as []drover.Attempt) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.owners)+len(as) > maxOwners {
		m.owners = make(map[string]string, len(as))
	}
	for _, a := range as {
		m.owners[a.ID] = a.WorkerID
	}
}

func (m *memo) forgetAttempt(attemptID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.owners, attemptID)
}

// recentFleet returns the capacities read less than fleetTTL before now, or
// nil.
func (m *memo) recentFleet(now time.Time) []drover.Worker {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fleet == nil || now.Sub(m.fleetAt) >= fleetTTL || now.Before(m.fleetAt) {
		return nil
	}
	return m.fleet
}

func (m *memo) setFleet(ws []drover.Worker, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fleet, m.fleetAt = ws, now
}

// forgetFleet makes the next submission read the workers again.
func (m *memo) forgetFleet() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fleet = nil
}
