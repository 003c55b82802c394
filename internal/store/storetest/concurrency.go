package storetest

import (
	"fmt"
	"sync"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/store"
)

// The size of testConcurrency's run.
const (
	concWriters   = 6  // running attempts that write output
	concBatches   = 10 // output posts per attempt
	concBatchSize = 5  // chunks per post
	concQueued    = 30 // queued jobs the two schedulers place
	concFollowers = 2  // readers that follow every attempt's output
)

// testConcurrency runs writers of output, readers following it and two
// schedulers placing the same jobs, all at once. Run it with -race. It
// checks that nothing is lost, doubled or reordered. It checks that a job
// is never assigned twice, however the two schedulers interleave.
func testConcurrency(f *fixture) {
	c := newConcurrencyRun(f)
	var wg sync.WaitGroup
	done := c.write(&wg)
	for range concFollowers {
		wg.Go(func() { c.follow(done) })
	}
	for _, w := range c.workers {
		wg.Go(func() { c.schedule(w) })
	}
	wg.Wait()
	if f.t.Failed() {
		return
	}
	c.checkOutput()
	c.checkPlacements()
}

// concurrencyRun is the state testConcurrency's goroutines share.
type concurrencyRun struct {
	f       *fixture
	workers []string // the two workers, one per scheduler
	streams []stream // the running attempts that write output
	pending []string // the queued jobs
	mu      sync.Mutex
	placed  []drover.Attempt // every attempt the schedulers made
}

// stream is a running attempt that writes output, and its job.
type stream struct {
	jobID, attemptID string
}

// newConcurrencyRun makes two workers with room for everything, the
// attempts that write output on the first, and the queued jobs.
func newConcurrencyRun(f *fixture) *concurrencyRun {
	c := &concurrencyRun{f: f}
	for _, name := range []string{"w1", "w2"} {
		w := f.createWorker(name, func(w *drover.Worker) { w.Capacity.Slots = 100 })
		c.workers = append(c.workers, w.ID)
	}
	for range concWriters {
		j, a := f.running(c.workers[0])
		c.streams = append(c.streams, stream{j.ID, a.ID})
	}
	for i := range concQueued {
		c.pending = append(c.pending, f.createJob(at(time.Duration(i))).ID)
	}
	return c
}

// chunkData is the text of chunk seq of stream i.
func chunkData(i, seq int) []byte {
	return fmt.Appendf(nil, "stream %d line %d\n", i, seq)
}

// write starts a writer per stream on wg. The returned channel is closed
// once every writer is done.
//
// Each batch is posted twice, as a worker does when it retries a post
// whose answer it lost.
func (c *concurrencyRun) write(wg *sync.WaitGroup) <-chan struct{} {
	var writing sync.WaitGroup
	for i, s := range c.streams {
		writing.Add(1)
		wg.Go(func() {
			defer writing.Done()
			for b := range concBatches {
				var cs []drover.OutputChunk
				for k := range concBatchSize {
					seq := b*concBatchSize + k + 1
					cs = append(cs, drover.OutputChunk{Seq: int64(seq), Stream: drover.Stdout, Data: chunkData(i, seq)})
				}
				for range 2 {
					if _, err := c.f.s.AppendOutput(c.f.ctx, s.attemptID, cs, at(time.Minute)); err != nil {
						c.f.t.Errorf("AppendOutput: %v", err)
						return
					}
				}
			}
		})
	}
	done := make(chan struct{})
	wg.Go(func() {
		writing.Wait()
		close(done)
	})
	return done
}

// follow reads each stream's output bit by bit until done is closed.
// It checks that ids and seqs only move forward.
func (c *concurrencyRun) follow(done <-chan struct{}) {
	after := make([]int64, len(c.streams))
	next := make([]int64, len(c.streams))
	for {
		finished := false
		select {
		case <-done:
			finished = true // one more pass sees everything
		default:
		}
		for i, s := range c.streams {
			cs, err := c.f.s.ReadOutput(c.f.ctx, s.jobID, after[i], "", 7)
			if err != nil {
				c.f.t.Errorf("ReadOutput: %v", err)
				return
			}
			for _, ch := range cs {
				if ch.ID <= after[i] || ch.Seq != next[i]+1 {
					c.f.t.Errorf("follower of stream %d: chunk id %d seq %d after id %d seq %d", i, ch.ID, ch.Seq, after[i], next[i])
					return
				}
				after[i], next[i] = ch.ID, ch.Seq
			}
		}
		if finished {
			return
		}
	}
}

// schedule places every queued job on worker workerID, ten at a time, as
// a scheduler does.
func (c *concurrencyRun) schedule(workerID string) {
	for start := 0; start < len(c.pending); start += 10 {
		var ps []store.Placement
		for _, id := range c.pending[start : start+10] {
			ps = append(ps, store.Placement{JobID: id, WorkerID: workerID, AttemptID: drover.NewID("att")})
		}
		as, err := c.f.s.Assign(c.f.ctx, at(time.Minute), ps)
		if err != nil {
			c.f.t.Errorf("Assign: %v", err)
			return
		}
		c.mu.Lock()
		c.placed = append(c.placed, as...)
		c.mu.Unlock()
	}
}

// checkOutput checks that each stream holds every chunk once, in order,
// and that its job counts their bytes.
func (c *concurrencyRun) checkOutput() {
	t := c.f.t
	for i, s := range c.streams {
		cs := c.f.readAll(s.jobID)
		if len(cs) != concBatches*concBatchSize {
			t.Errorf("stream %d: %d chunks stored, want %d", i, len(cs), concBatches*concBatchSize)
			continue
		}
		var total int64
		for k, ch := range cs {
			if ch.Seq != int64(k+1) || string(ch.Data) != string(chunkData(i, k+1)) {
				t.Errorf("stream %d chunk %d: seq %d %q", i, k, ch.Seq, ch.Data)
				break
			}
			total += int64(len(ch.Data))
		}
		if got := c.f.job(s.jobID).OutputBytes; got != total {
			t.Errorf("stream %d: OutputBytes %d, want %d", i, got, total)
		}
	}
}

// checkPlacements checks that each queued job got one attempt, and that
// the workers hold a slot for each attempt.
func (c *concurrencyRun) checkPlacements() {
	t := c.f.t
	if len(c.placed) != concQueued {
		t.Errorf("two schedulers made %d attempts for %d jobs, want one each", len(c.placed), concQueued)
	}
	seen := map[string]bool{}
	for _, a := range c.placed {
		if seen[a.JobID] {
			t.Errorf("job %s assigned twice", a.JobID)
		}
		seen[a.JobID] = true
	}
	for _, id := range c.pending {
		if j := c.f.job(id); j.State != drover.JobAssigned || len(j.Attempts) != 1 {
			t.Errorf("job %s = %s with %d attempts, want ASSIGNED with 1", id, j.State, len(j.Attempts))
		}
	}
	alloc := 0
	for _, w := range c.workers {
		alloc += c.f.worker(w).Allocated.Slots
	}
	if alloc != concWriters+concQueued {
		t.Errorf("workers hold %d slots, want %d", alloc, concWriters+concQueued)
	}
}
