package worker

import (
	"errors"
	"sync"
	"testing"
)

// scanner is an injectable /proc scan: the ids it says processes hold, and
// how often it was asked.
type scanner struct {
	mu    sync.Mutex
	held  map[uint32]bool
	calls int
	err   error
}

func (s *scanner) scan() (map[uint32]bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	held := map[uint32]bool{}
	for id := range s.held {
		held[id] = true
	}
	return held, s.err
}

func (s *scanner) set(ids ...uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held = map[uint32]bool{}
	for _, id := range ids {
		s.held[id] = true
	}
}

func acquire(t *testing.T, p *uidPool) uint32 {
	t.Helper()
	id, err := p.acquire()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Ids go round the range, skipping those of running jobs and those a
// process left behind holds; /proc is read at start and at each wrap only.
func TestUIDPoolRoundRobinSkipsHeldIDs(t *testing.T) {
	sc := &scanner{}
	sc.set(101) // a leftover of an earlier life holds 101
	p, err := newUIDPool(100, 104, sc.scan)
	if err != nil {
		t.Fatal(err)
	}
	var got []uint32
	for range 4 {
		id := acquire(t, p)
		got = append(got, id)
		p.release(id)
	}
	if want := []uint32{100, 102, 103, 104}; !equal(got, want) {
		t.Fatalf("first round %v, want %v: round robin, skipping the held id", got, want)
	}
	if sc.calls != 1 {
		t.Fatalf("/proc read %d times before any wrap, want once (at start)", sc.calls)
	}

	// Before the wrap, 101's process died and a daemon a job left behind
	// holds 103: the wrap's scan sees both.
	sc.set(103)
	var live []uint32
	for range 4 {
		live = append(live, acquire(t, p))
	}
	if want := []uint32{100, 101, 102, 104}; !equal(live, want) || sc.calls != 2 {
		t.Fatalf("second round %v with %d scans, want %v and 2", live, sc.calls, want)
	}
	// The daemon is gone by the next wrap; the ids of running jobs stay
	// theirs, so 103 alone is free, then none.
	sc.set()
	if id := acquire(t, p); id != 103 || sc.calls != 3 {
		t.Fatalf("third round: got %d with %d scans, want 103 and 3", id, sc.calls)
	}
	if id, err := p.acquire(); err == nil {
		t.Fatalf("every id runs a job: got %d, want an error", id)
	}
}

// A held id is skipped even when it is the only one left, and a range all
// held fails rather than hands out a held id.
func TestUIDPoolNeverGivesAHeldID(t *testing.T) {
	sc := &scanner{}
	sc.set(7, 8)
	p, err := newUIDPool(7, 9, sc.scan)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		id := acquire(t, p)
		if id != 9 {
			t.Fatalf("got %d, want 9: 7 and 8 are held", id)
		}
		p.release(id)
	}
	live := acquire(t, p)
	if _, err := p.acquire(); err == nil {
		t.Fatalf("with %d live and the rest held, got an id", live)
	}
	sc.err = errors.New("no /proc")
	p.release(live)
	if _, err := p.acquire(); err == nil {
		t.Fatal("a wrap whose scan failed handed out an id")
	}
}

// Concurrent jobs never share an id.
func TestUIDPoolDistinctForConcurrentJobs(t *testing.T) {
	sc := &scanner{}
	p, err := newUIDPool(1000, 1015, sc.scan)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	live := map[uint32]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				id, err := p.acquire()
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if live[id] {
					t.Errorf("id %d given to two running jobs", id)
				}
				live[id] = true
				mu.Unlock()
				mu.Lock()
				delete(live, id)
				mu.Unlock()
				p.release(id)
			}
		})
	}
	wg.Wait()
}

func equal(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
