package coordinator

import (
	"context"
	"sync"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/sched"
	"github.com/drover-dev/drover/internal/store"
)

// scheduleLoop runs a placement pass on every wake-up, when a retry
// backoff ends, and every SweepInterval as a safety net. A submission, a
// finished attempt and a new or recovered worker each wake it.
//
// A wake-up for new jobs alone is let go when the last pass found no free
// slot in the fleet and nothing has changed it since. The new jobs could
// not be placed. They get their pending reasons at the next pass. On a
// busy fleet with a deep queue, that saves every other pass.
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

// minPassRead is the fewest queued jobs a pass reads.
//
// A pass reads the head of the queue only. It reads more the more free
// slots there are, so its cost follows the work it can do rather than the
// depth of the queue. Otherwise a deep queue on a busy fleet would be read
// and decoded again after every finished attempt and every submission.
// Jobs deeper than a pass reads keep the pending reason they had. A new
// one has none: it waits its turn.
const minPassRead = 8

// schedulePass places what it can. It returns the earliest NotBefore of
// the jobs waiting out a retry backoff, or zero if none. more says another
// pass should follow at once, because this one was full and placed
// something.
//
// The queue is read first. An empty queue, as an idle fleet's sweeps see,
// then costs one index probe rather than a read of every worker. How much
// to read is guessed from the free slots the last pass found, so that a
// busy fleet's pass reads the queue once.
func (c *Coordinator) schedulePass(ctx context.Context) (next time.Time, more bool, err error) {
	read := c.passRead(c.lastFree)
	jobs, err := c.store.QueuedJobs(ctx, read)
	if err != nil || len(jobs) == 0 {
		c.lastFree = -1 // the fleet was not read
		return time.Time{}, false, err
	}
	workers, err := c.store.Fleet(ctx)
	if err != nil {
		return time.Time{}, false, err
	}
	free := freeSlots(workers)
	c.lastFree = free
	now := c.now()
	jobs, res, err := c.place(ctx, now, jobs, read, workers, free)
	if err != nil || len(jobs) == 0 {
		return time.Time{}, false, err
	}
	next = nextRetry(jobs, now)
	if err := c.writePass(ctx, now, jobs, res, free); err != nil {
		return next, false, err
	}
	full := len(jobs) == c.cfg.MaxPass // place read as many as a pass may
	return next, full && len(res.Assignments) > 0, nil
}

// passRead is how many queued jobs a pass reads for free slots. It reads
// twice as many, within minPassRead and MaxPass. An unknown count (-1)
// gets minPassRead.
func (c *Coordinator) passRead(free int) int {
	return min(c.cfg.MaxPass, max(minPassRead, 2*free))
}

// freeSlots counts the free slots of the READY workers.
func freeSlots(workers []drover.Worker) int {
	free := 0
	for i := range workers {
		if w := &workers[i]; w.State == drover.WorkerReady {
			free += max(0, w.Capacity.Slots-w.Allocated.Slots)
		}
	}
	return free
}

// place runs sched.Place on the head of the queue. jobs is what the pass
// read of it, and read how many it asked for. place returns the jobs it
// placed from and what Place decided.
//
// It starts from passRead(free) jobs. While slots stay free and the queue
// goes on, it reads four times as many and places again, up to MaxPass.
// Jobs that fit nowhere therefore do not block those behind them.
func (c *Coordinator) place(ctx context.Context, now time.Time, jobs []drover.Job, read int, workers []drover.Worker, free int) ([]drover.Job, sched.Result, error) {
	limit := c.passRead(free)
	if len(jobs) > limit {
		jobs, read = jobs[:limit], limit // fewer slots free than last time
	}
	for {
		if limit > read && len(jobs) == read {
			var err error
			if jobs, err = c.store.QueuedJobs(ctx, limit); err != nil || len(jobs) == 0 {
				return nil, sched.Result{}, err
			}
			read = limit
		}
		res := sched.Place(now, jobs, workers)
		if len(jobs) < limit || limit >= c.cfg.MaxPass || len(res.Assignments) >= free {
			return jobs, res, nil
		}
		limit = min(c.cfg.MaxPass, 4*limit)
	}
}

// nextRetry is the earliest NotBefore after now among jobs, or zero.
func nextRetry(jobs []drover.Job, now time.Time) time.Time {
	var next time.Time
	for i := range jobs {
		if nb := jobs[i].NotBefore; nb != nil && nb.After(now) && (next.IsZero() || nb.Before(next)) {
			next = *nb
		}
	}
	return next
}

// writePass stores what a pass decided and tells who needs to know. The
// pending reasons that changed are written at the same time as the
// assignments. Both then land in one commit of the store, and the pass
// waits for the disk once.
func (c *Coordinator) writePass(ctx context.Context, now time.Time, jobs []drover.Job, res sched.Result, free int) error {
	changed := c.pendingChanges(jobs, res.Pending)
	var (
		pendingErr error
		wrote      sync.WaitGroup
	)
	if len(changed) > 0 {
		wrote.Go(func() { pendingErr = c.store.SetPendingReasons(ctx, changed) })
	}
	if len(res.Assignments) > 0 {
		if err := c.assign(ctx, now, jobs, res.Assignments, free); err != nil {
			wrote.Wait()
			return err
		}
	}
	wrote.Wait()
	if pendingErr != nil {
		return pendingErr
	}
	for i := range jobs {
		if r, ok := changed[jobs[i].ID]; ok {
			jobs[i].PendingReason = r
			c.publishJob(&jobs[i])
		}
	}
	return nil
}

// assign stores the placements of a pass. It then wakes the workers that
// got work and publishes the jobs as assigned.
func (c *Coordinator) assign(ctx context.Context, now time.Time, jobs []drover.Job, as []sched.Assignment, free int) error {
	ps := make([]store.Placement, len(as))
	for i, a := range as {
		ps[i] = store.Placement{JobID: a.JobID, WorkerID: a.WorkerID, AttemptID: drover.NewID("att")}
	}
	attempts, err := c.store.Assign(ctx, now, ps)
	if err != nil {
		return err
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
	return nil
}

// pendingChanges returns the "why pending" reasons that changed since the
// last pass, so a steady queue costs no writes, and remembers them.
func (c *Coordinator) pendingChanges(jobs []drover.Job, reasons map[string]string) map[string]string {
	c.pendingMu.Lock()
	defer c.pendingMu.Unlock()
	changed := map[string]string{}
	// The memory holds this pass's jobs only. Jobs that left the queue, as
	// placed or cancelled, are forgotten. One that comes back is compared
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
