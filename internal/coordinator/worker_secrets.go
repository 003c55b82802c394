package coordinator

import "sync"

// workerSecrets remembers the sha256 of each worker's verified secret.
// It spares every worker call a store read.
// A secret never changes: a worker that registers again gets a new id.
// A worker that leaves is forgotten.
//
// Each entry is written once and read many times, the case sync.Map is
// made for, so it needs no lock of its own.
type workerSecrets struct {
	m sync.Map // worker id -> [32]byte
}

// get returns the remembered hash of the worker's secret.
func (s *workerSecrets) get(workerID string) ([32]byte, bool) {
	h, ok := s.m.Load(workerID)
	if !ok {
		return [32]byte{}, false
	}
	return h.([32]byte), true
}

// set remembers the hash of a secret the store has just confirmed.
func (s *workerSecrets) set(workerID string, h [32]byte) { s.m.Store(workerID, h) }

// forget drops the secret of a worker that left.
func (s *workerSecrets) forget(workerID string) { s.m.Delete(workerID) }
