package coordinator

import (
	"context"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/store"
)

// reapLoop runs Reap every SweepInterval until ctx ends.
func (c *Coordinator) reapLoop(ctx context.Context) {
	t := time.NewTicker(c.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := c.Reap(ctx); err != nil && ctx.Err() == nil {
			c.log.Error("reaper", "err", err)
		}
	}
}

// Reap runs one round of lease enforcement.
// Workers silent for the heartbeat timeout go DOWN.
// Their attempts fail as worker_lost.
// Assignments not acknowledged within AckTimeout go back to the queue.
// Attempts that overrun timeout, grace and heartbeat timeout fail as
// timeout. The worker enforces the timeout, and this is the backstop.
//
// After a start the coordinator waits a heartbeat timeout before it judges
// workers. It waits an ack timeout before it takes back assignments.
// The store's heartbeat times are from before the outage. Judging by them
// would fail every running job as lost.
func (c *Coordinator) Reap(ctx context.Context) error {
	now := c.now()
	up := now.Sub(c.startedAt)
	before := now.Add(-c.cfg.HeartbeatTimeout)
	var stale []string
	if up >= c.cfg.HeartbeatTimeout {
		var err error
		if stale, err = c.store.StaleWorkers(ctx, before); err != nil {
			return err
		}
	}
	for _, id := range stale {
		attempts, marked, err := c.store.MarkWorkerDown(ctx, id, before)
		if drover.IsCode(err, drover.ECONFLICT) || drover.IsCode(err, drover.ENOTFOUND) {
			continue // it heartbeated just now, or left
		}
		if err != nil {
			return err
		}
		if marked {
			c.metrics.misses.Inc()
			c.log.Warn("worker down", "worker", id, "silent_for", c.cfg.HeartbeatTimeout, "attempts_lost", len(attempts))
		} else {
			// Found DOWN with attempts still active: a previous round
			// was interrupted before it ended them all.
			c.log.Warn("ending the attempts left on a worker already down", "worker", id, "attempts", len(attempts))
		}
		w, werr := c.store.GetWorker(ctx, id)
		name := id
		if werr == nil {
			name = w.Name + " (" + id + ")"
		}
		var lastHeard *time.Time // the attempts ran until then, as far as anyone knows
		if werr == nil {
			lastHeard = &w.LastHeartbeatAt
		}
		c.loseAttempts(ctx, attempts, now, lastHeard, "worker "+name+" stopped heartbeating")
		if werr == nil {
			c.publishWorker(w)
		}
		// A worker that comes back is looked up again.
		// One that never does leaves nothing behind in memory.
		c.forgetWorker(id)
	}
	if up < c.cfg.AckTimeout || up < c.cfg.HeartbeatTimeout {
		return nil
	}
	unacked, err := c.store.UnacknowledgedAttempts(ctx, now.Add(-c.cfg.AckTimeout))
	if err != nil {
		return err
	}
	for _, a := range unacked {
		// If: an attempt acknowledged since the read above is left alone.
		if _, err := c.endAttempt(ctx, a.ID, store.AttemptEnd{If: drover.AttemptAssigned, At: now, State: drover.AttemptFailed,
			Reason: drover.ReasonNotAcknowledged}); err == nil {
			c.log.Warn("assignment not acknowledged; requeued", "attempt", a.ID, "worker", a.WorkerID)
		}
	}
	overdue, err := c.store.OverdueAttempts(ctx, now, c.cfg.HeartbeatTimeout, c.cfg.Grace)
	if err != nil {
		return err
	}
	for _, a := range overdue {
		if _, err := c.endAttempt(ctx, a.ID, store.AttemptEnd{If: drover.AttemptRunning, At: now, State: drover.AttemptFailed,
			Reason: drover.ReasonTimeout, Message: "timed out (the worker did not stop it; the coordinator did)"}); err == nil {
			c.log.Warn("attempt overran its timeout; failed it", "attempt", a.ID, "worker", a.WorkerID)
		}
	}
	return nil
}

// loseAttempts fails the attempts of a worker found gone as worker_lost
// (retried by the fleet's budget). They ran, as far as anyone knows, until
// lastHeard when it is known.
func (c *Coordinator) loseAttempts(ctx context.Context, attempts []drover.Attempt, now time.Time, lastHeard *time.Time, message string) {
	for _, a := range attempts {
		c.endAttempt(ctx, a.ID, store.AttemptEnd{At: now, RanUntil: lastHeard, State: drover.AttemptFailed, Reason: drover.ReasonWorkerLost,
			Message: message})
	}
}

// endAttempt ends an attempt with the retry policy and publishes the
// result. A stale attempt (already ended) is ignored.
func (c *Coordinator) endAttempt(ctx context.Context, id string, end store.AttemptEnd) (*drover.Job, error) {
	return c.endAttemptWith(ctx, id, end, decide)
}

// endAttemptWith is endAttempt with policy in place of decide.
// The ended attempt's owner is forgotten.
func (c *Coordinator) endAttemptWith(ctx context.Context, id string, end store.AttemptEnd, policy func(*drover.Job, *drover.Attempt, int, time.Time) store.JobOutcome) (*drover.Job, error) {
	j, err := c.store.EndAttempt(ctx, id, end, func(j *drover.Job, a *drover.Attempt) store.JobOutcome {
		// The end is taken as stored, never before the attempt's start.
		// A retry's backoff then counts from it.
		at := end.At
		if a.FinishedAt != nil {
			at = *a.FinishedAt
		}
		return policy(j, a, c.cfg.FleetRetries, at)
	})
	if err != nil {
		if !drover.IsCode(err, drover.ECONFLICT) {
			c.log.Error("end attempt", "attempt", id, "err", err)
		}
		return nil, err
	}
	c.owners.forget(id)
	c.metrics.jobFinished(j)
	c.publishJob(j)
	c.Wake()
	return j, nil
}
