package coordinator

import (
	"context"
	"sync"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/sched"
	"github.com/drover-dev/drover/internal/store"
)

// scheduleLoop runs a placement pass on every wake-up (submission, finished
// attempt, new or recovered worker), when a retry backoff ends, and every
// SweepInterval as a safety net. A wake-up for new jobs alone is let go
// when the last pass found no free slot in the fleet and nothing has
// changed it since: the new jobs could not be placed (they get their
// pending reasons at the next pass). On a busy fleet with a deep queue
// that was every other pass.
func (c *Coordinator) scheduleLoop(ctx context.Context) {
	c.lastFree = -1
	sweep := time.NewTicker(c.cfg.SweepInterval)
	defer sweep.Stop()
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	for {
		woken := false
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
			woken = true
		case <-sweep.C:
		case <-retry.C:
		}
		if !c.fleetChanged.Swap(false) && woken && c.lastFree == 0 {
			continue
		}
		t0 := c.clock.Now()
		next, more, err := c.schedulePass(ctx)
		c.metrics.passes.ObserveDuration(c.clock.Now().Sub(t0))
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.log.Error("scheduling pass", "err", err)
			c.lastFree = -1
			continue
		}
		if more {
			c.Wake()
		}
		if !next.IsZero() {
			retry.Reset(max(next.Sub(c.now()), time.Millisecond))
		}
	}
}

// minPassRead is the fewest queued jobs a pass reads. A pass reads the
// head of the queue only, more the more free slots there are, so that its
// cost follows the work it can do rather than the depth of the queue: a
// deep queue on a busy fleet would otherwise be read and decoded again
// after every finished attempt and every submission. Jobs deeper than what
// a pass reads keep the pending reason they had (none when new: they wait
// their turn).
const minPassRead = 8

// schedulePass places what it can. It returns the earliest NotBefore of
// jobs waiting out a retry backoff (zero if none) and whether another pass
// should follow at once (the pass was full and placed something).
//
// It reads max(minPassRead, 2 × free slots) jobs from the head of the
// queue, and reads four times as many again while free slots are left and
// the queue goes on (jobs that fit nowhere do not block those behind
// them), up to MaxPass.
func (c *Coordinator) schedulePass(ctx context.Context) (next time.Time, more bool, err error) {
	// The queue first: an empty one (an idle fleet's sweeps) costs one
	// index probe, not a read of every worker and its allocation. Its
	// length is guessed from the free slots of the last pass, so that a
	// busy fleet's passes read the queue once.
	read := min(c.cfg.MaxPass, max(minPassRead, 2*c.lastFree))
	jobs, err := c.store.QueuedJobs(ctx, read)
	if err != nil || len(jobs) == 0 {
		c.lastFree = -1 // the fleet was not read
		return time.Time{}, false, err
	}
	workers, err := c.store.Fleet(ctx)
	if err != nil {
		return time.Time{}, false, err
	}
	free := 0
	for i := range workers {
		if w := &workers[i]; w.State == drover.WorkerReady {
			free += max(0, w.Capacity.Slots-w.Allocated.Slots)
		}
	}
	c.lastFree = free
	limit := min(c.cfg.MaxPass, max(minPassRead, 2*free))
	if len(jobs) > limit {
		jobs, read = jobs[:limit], limit // fewer slots free than last time
	}
	now := c.now()
	var res sched.Result
	for {
		if limit > read && len(jobs) == read {
			if jobs, err = c.store.QueuedJobs(ctx, limit); err != nil || len(jobs) == 0 {
				return time.Time{}, false, err
			}
			read = limit
		}
		res = sched.Place(now, jobs, workers)
		if len(jobs) < limit || limit >= c.cfg.MaxPass || len(res.Assignments) >= free {
			break
		}
		limit = min(c.cfg.MaxPass, 4*limit)
	}
	for i := range jobs {
		if nb := jobs[i].NotBefore; nb != nil && nb.After(now) && (next.IsZero() || nb.Before(next)) {
			next = *nb
		}
	}
	// The pending reasons that changed are written at the same time as the
	// assignments, so both land in one commit of the store and the pass
	// waits for the disk once.
	changed := c.pendingChanges(jobs, res.Pending)
	var (
		pendingErr error
		wrote      sync.WaitGroup
	)
	if len(changed) > 0 {
		wrote.Add(1)
		go func() { defer wrote.Done(); pendingErr = c.store.SetPendingReasons(ctx, changed) }()
	}
	if len(res.Assignments) > 0 {
		ps := make([]store.Placement, len(res.Assignments))
		for i, a := range res.Assignments {
			ps[i] = store.Placement{JobID: a.JobID, WorkerID: a.WorkerID, AttemptID: drover.NewID("att")}
		}
		attempts, err := c.store.Assign(ctx, now, ps)
		if err != nil {
			wrote.Wait()
			return next, false, err
		}
		c.owners.add(attempts)
		c.lastFree = max(0, free-len(attempts))
		c.metrics.assigned.Add(uint64(len(attempts)))
		byID := make(map[string]*drover.Job, len(jobs))
		for i := range jobs {
			byID[jobs[i].ID] = &jobs[i]
		}
		notified := map[string]bool{}
		for _, a := range attempts {
			if !notified[a.WorkerID] {
				notified[a.WorkerID] = true
				c.pollWakeups.notify(a.WorkerID)
			}
			if j := byID[a.JobID]; j != nil {
				j.State, j.WorkerID, j.WorkerName, j.AssignedAt, j.PendingReason = drover.JobAssigned, a.WorkerID, a.WorkerName, a.AssignedAt, ""
				c.publishJob(j)
			}
		}
		c.forgetPending(attempts)
	}
	wrote.Wait()
	if pendingErr != nil {
		return next, false, pendingErr
	}
	for i := range jobs {
		if r, ok := changed[jobs[i].ID]; ok {
			jobs[i].PendingReason = r
			c.publishJob(&jobs[i])
		}
	}
	return next, limit == c.cfg.MaxPass && len(jobs) == limit && len(res.Assignments) > 0, nil
}

// pendingChanges returns the "why pending" reasons that changed since the
// last pass, so a steady queue costs no writes, and remembers them.
func (c *Coordinator) pendingChanges(jobs []drover.Job, reasons map[string]string) map[string]string {
	c.pendingMu.Lock()
	defer c.pendingMu.Unlock()
	changed := map[string]string{}
	// The memory holds this pass's jobs only, so jobs that left the queue
	// (placed, cancelled) are forgotten; one that comes back is compared
	// with the reason the store has.
	next := make(map[string]string, len(reasons))
	for i := range jobs {
		j := &jobs[i]
		r, ok := reasons[j.ID]
		if !ok {
			continue
		}
		last, seen := c.pending[j.ID]
		if !seen {
			last = j.PendingReason
		}
		if r != last {
			changed[j.ID] = r
		}
		next[j.ID] = r
	}
	c.pending = next
	return changed
}

func (c *Coordinator) forgetPending(attempts []drover.Attempt) {
	c.pendingMu.Lock()
	for _, a := range attempts {
		delete(c.pending, a.JobID)
	}
	c.pendingMu.Unlock()
}
