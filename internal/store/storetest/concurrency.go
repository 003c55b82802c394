package storetest

import (
	"fmt"
	"sync"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/store"
)

// testConcurrency runs writers of output, readers following it and two
// schedulers placing the same jobs, all at once. Run it with -race. It
// checks that nothing is lost, doubled or reordered, and that a job is
// never assigned twice however the two schedulers interleave.
func testConcurrency(f *fixture) {
	t := f.t
	const (
		writers   = 6
		batches   = 10
		batchSize = 5
		queued    = 30
	)
	w1 := f.createWorker("w1", func(w *drover.Worker) { w.Capacity.Slots = 100 })
	w2 := f.createWorker("w2", func(w *drover.Worker) { w.Capacity.Slots = 100 })

	type stream struct {
		jobID, attemptID string
	}
	var streams []stream
	for range writers {
		j, a := f.running(w1.ID)
		streams = append(streams, stream{j.ID, a.ID})
	}
	var pending []string
	for i := range queued {
		pending = append(pending, f.createJob(at(time.Duration(i))).ID)
	}

	var (
		wg      sync.WaitGroup
		done    = make(chan struct{}) // closed when the writers are done
		writing sync.WaitGroup
		mu      sync.Mutex
		placed  []drover.Attempt
	)
	data := func(i, seq int) []byte { return fmt.Appendf(nil, "stream %d line %d\n", i, seq) }

	for i, s := range streams {
		writing.Add(1)
		wg.Go(func() {
			defer writing.Done()
			for b := range batches {
				var cs []drover.OutputChunk
				for k := range batchSize {
					seq := b*batchSize + k + 1
					cs = append(cs, drover.OutputChunk{Seq: int64(seq), Stream: drover.Stdout, Data: data(i, seq)})
				}
				// Each batch is posted twice, as a worker retrying a post
				// whose answer it lost.
				for range 2 {
					if _, err := f.s.AppendOutput(f.ctx, s.attemptID, cs, at(time.Minute)); err != nil {
						t.Errorf("AppendOutput: %v", err)
						return
					}
				}
			}
		})
	}
	wg.Go(func() {
		writing.Wait()
		close(done)
	})

	// Followers: read each job's output incrementally until the writers are
	// done, checking that ids and seqs only move forward.
	for range 2 {
		wg.Go(func() {
			after := make([]int64, len(streams))
			next := make([]int64, len(streams))
			for {
				finished := false
				select {
				case <-done:
					finished = true // one more pass sees everything
				default:
				}
				for i, s := range streams {
					cs, err := f.s.ReadOutput(f.ctx, s.jobID, after[i], "", 7)
					if err != nil {
						t.Errorf("ReadOutput: %v", err)
						return
					}
					for _, c := range cs {
						if c.ID <= after[i] || c.Seq != next[i]+1 {
							t.Errorf("follower of stream %d: chunk id %d seq %d after id %d seq %d", i, c.ID, c.Seq, after[i], next[i])
							return
						}
						after[i], next[i] = c.ID, c.Seq
					}
				}
				if finished {
					return
				}
			}
		})
	}

	// Two schedulers place every queued job, on different workers, at once.
	for _, w := range []string{w1.ID, w2.ID} {
		wg.Go(func() {
			for start := 0; start < len(pending); start += 10 {
				var ps []store.Placement
				for _, id := range pending[start : start+10] {
					ps = append(ps, store.Placement{JobID: id, WorkerID: w, AttemptID: drover.NewID("att")})
				}
				as, err := f.s.Assign(f.ctx, at(time.Minute), ps)
				if err != nil {
					t.Errorf("Assign: %v", err)
					return
				}
				mu.Lock()
				placed = append(placed, as...)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	for i, s := range streams {
		cs := f.readAll(s.jobID)
		if len(cs) != batches*batchSize {
			t.Errorf("stream %d: %d chunks stored, want %d", i, len(cs), batches*batchSize)
			continue
		}
		var total int64
		for k, c := range cs {
			if c.Seq != int64(k+1) || string(c.Data) != string(data(i, k+1)) {
				t.Errorf("stream %d chunk %d: seq %d %q", i, k, c.Seq, c.Data)
				break
			}
			total += int64(len(c.Data))
		}
		if got := f.job(s.jobID).OutputBytes; got != total {
			t.Errorf("stream %d: OutputBytes %d, want %d", i, got, total)
		}
	}

	if len(placed) != queued {
		t.Errorf("two schedulers made %d attempts for %d jobs, want one each", len(placed), queued)
	}
	seen := map[string]bool{}
	for _, a := range placed {
		if seen[a.JobID] {
			t.Errorf("job %s assigned twice", a.JobID)
		}
		seen[a.JobID] = true
	}
	for _, id := range pending {
		if j := f.job(id); j.State != drover.JobAssigned || len(j.Attempts) != 1 {
			t.Errorf("job %s = %s with %d attempts, want ASSIGNED with 1", id, j.State, len(j.Attempts))
		}
	}
	alloc := f.worker(w1.ID).Allocated.Slots + f.worker(w2.ID).Allocated.Slots
	if alloc != writers+queued {
		t.Errorf("workers hold %d slots, want %d", alloc, writers+queued)
	}
}
