package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/store"
	"github.com/drover-dev/drover/internal/store/sqlite"
)

// These benchmarks measure the store calls one job makes on its way
// through drover, on a real file with synchronous=FULL. docs/performance.md
// quotes them.

func benchWorker(b *testing.B, s *sqlite.Store) *drover.Worker {
	w := &drover.Worker{ID: drover.NewID("wrk"), Name: "w", Capacity: drover.Capacity{CPU: 1 << 40, MemoryMB: 1 << 40, Slots: 1 << 30}, RegisteredAt: base}
	if err := s.CreateWorker(b.Context(), w, []byte("h")); err != nil {
		b.Fatal(err)
	}
	return w
}

var keep = func(j *drover.Job, a *drover.Attempt) store.JobOutcome {
	return store.JobOutcome{State: drover.JobCompleted, ExitCode: a.ExitCode}
}

// lifecycle runs one job through every write call a noop job makes:
// CreateJob, Assign, Deliver, StartAttempt, EndAttempt.
func lifecycle(b *testing.B, s *sqlite.Store, w *drover.Worker, i int) {
	runLifecycle(b, s, w, i, false)
}

// shortLifecycle is lifecycle for a command that ends before its start is
// posted: the start comes with the end, and there is no StartAttempt.
func shortLifecycle(b *testing.B, s *sqlite.Store, w *drover.Worker, i int) {
	runLifecycle(b, s, w, i, true)
}

func runLifecycle(b *testing.B, s *sqlite.Store, w *drover.Worker, i int, startWithEnd bool) {
	ctx := b.Context()
	j, _, err := s.CreateJob(ctx, newJob(i), "")
	if err != nil {
		b.Fatal(err)
	}
	as, err := s.Assign(ctx, base, []store.Placement{{JobID: j.ID, WorkerID: w.ID, AttemptID: drover.NewID("att")}})
	if err != nil || len(as) != 1 {
		b.Fatal(as, err)
	}
	if _, _, err := s.Deliver(ctx, w.ID, base); err != nil {
		b.Fatal(err)
	}
	end := store.AttemptEnd{At: base.Add(time.Millisecond), State: drover.AttemptCompleted, ExitCode: new(int)}
	if startWithEnd {
		end.StartedAt = &base
	} else if _, err := s.StartAttempt(ctx, as[0].ID, base, 0, 0); err != nil {
		b.Fatal(err)
	}
	if _, err := s.EndAttempt(ctx, as[0].ID, end, keep); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkJobLifecycle is one job's five write calls, one call at a time:
// each pays its own commit.
func BenchmarkJobLifecycle(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "drover.db"))
	defer s.Close()
	w := benchWorker(b, s)
	i := 0
	for b.Loop() {
		lifecycle(b, s, w, i)
		i++
	}
}

// BenchmarkJobLifecycleShortParallel is BenchmarkJobLifecycleParallel
// for short commands, whose start is reported with their end: the common
// case for a busy fleet of quick jobs.
func BenchmarkJobLifecycleShortParallel(b *testing.B) {
	lifecycleParallel(b, shortLifecycle)
}

// BenchmarkJobLifecycleParallel runs 64 jobs' lifecycles at once, as a
// busy coordinator does: concurrent calls share commits (group commit).
func BenchmarkJobLifecycleParallel(b *testing.B) {
	lifecycleParallel(b, lifecycle)
}

func lifecycleParallel(b *testing.B, run func(*testing.B, *sqlite.Store, *drover.Worker, int)) {
	s := open(b, filepath.Join(b.TempDir(), "drover.db"))
	defer s.Close()
	workers := make([]*drover.Worker, 64)
	for k := range workers {
		workers[k] = benchWorker(b, s)
	}
	var next atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for k := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				run(b, s, workers[k], int(i))
			}
		}()
	}
	wg.Wait()
}

// BenchmarkCreateJobParallel is 32 submitters at once.
func BenchmarkCreateJobParallel(b *testing.B) { createJobs(b, false) }

// BenchmarkCreateJobKeyedParallel is BenchmarkCreateJobParallel with an
// idempotency key per submission, as drover submit sends.
func BenchmarkCreateJobKeyedParallel(b *testing.B) { createJobs(b, true) }

func createJobs(b *testing.B, keyed bool) {
	s := open(b, filepath.Join(b.TempDir(), "drover.db"))
	defer s.Close()
	b.SetParallelism(16) // × GOMAXPROCS submitters
	var i atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := int(i.Add(1))
			key := ""
			if keyed {
				key = drover.NewID("key")
			}
			if _, _, err := s.CreateJob(b.Context(), newJob(n), key); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkQueuedJobs256Of10000 reads the head of a 10,000-job queue, what
// one scheduling pass reads on a busy fleet.
func BenchmarkQueuedJobs256Of10000(b *testing.B) {
	s := queueOf10000(b)
	for b.Loop() {
		js, err := s.QueuedJobs(b.Context(), 256)
		if err != nil || len(js) != 256 {
			b.Fatal(len(js), err)
		}
	}
}

// BenchmarkQueuedJobsVaryingHead reads 8 to 15 jobs from the head of a
// 10,000-job queue, a different number each time, as the passes of a busy
// fleet do (twice the free slots).
func BenchmarkQueuedJobsVaryingHead(b *testing.B) {
	s := queueOf10000(b)
	i := 0
	for b.Loop() {
		n := 8 + i%8
		i++
		js, err := s.QueuedJobs(b.Context(), n)
		if err != nil || len(js) != n {
			b.Fatal(len(js), err)
		}
	}
}

func queueOf10000(b *testing.B) *sqlite.Store {
	s := open(b, filepath.Join(b.TempDir(), "drover.db"))
	b.Cleanup(func() { s.Close() })
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= 10000; i = next.Add(1) {
				if _, _, err := s.CreateJob(b.Context(), newJob(int(i)), ""); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return s
}

// BenchmarkFleet reads a fleet whose workers run 16 attempts each, what
// every scheduling pass of a busy fleet reads (Fleet), against the same
// read with each worker's running jobs (ListWorkers, the API's).
func BenchmarkFleet(b *testing.B) {
	for _, n := range []int{4, 1000} {
		s := busyFleet(b, n, 16)
		for _, read := range []struct {
			name string
			fn   func(context.Context) ([]drover.Worker, error)
		}{{"Fleet", s.Fleet}, {"ListWorkers", s.ListWorkers}} {
			b.Run(fmt.Sprintf("%s/%dWorkers", read.name, n), func(b *testing.B) {
				for b.Loop() {
					ws, err := read.fn(b.Context())
					if err != nil || len(ws) != n || ws[0].Allocated.Slots != 16 {
						b.Fatal(len(ws), err)
					}
				}
			})
		}
	}
}

// busyFleet opens a store with n workers running per attempts each.
func busyFleet(b *testing.B, n, per int) *sqlite.Store {
	s := open(b, filepath.Join(b.TempDir(), "drover.db"))
	b.Cleanup(func() { s.Close() })
	ctx := b.Context()
	var ps []store.Placement
	for range n {
		w := &drover.Worker{ID: drover.NewID("wrk"), Name: "w", Labels: map[string]string{"zone": "a"}, Executors: []string{"process"},
			Capacity: drover.Capacity{CPU: 16000, MemoryMB: 1 << 16, Slots: per}, RegisteredAt: base}
		if err := s.CreateWorker(ctx, w, []byte("h")); err != nil {
			b.Fatal(err)
		}
		for range per {
			ps = append(ps, store.Placement{WorkerID: w.ID, AttemptID: drover.NewID("att")})
		}
	}
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 32 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(ps)); i = next.Add(1) - 1 {
				j, _, err := s.CreateJob(ctx, newJob(int(i)), "")
				if err != nil {
					b.Error(err)
					return
				}
				ps[i].JobID = j.ID
			}
		})
	}
	wg.Wait()
	for len(ps) > 0 {
		k := min(len(ps), 256)
		if _, err := s.Assign(ctx, base, ps[:k]); err != nil {
			b.Fatal(err)
		}
		ps = ps[k:]
	}
	return s
}
