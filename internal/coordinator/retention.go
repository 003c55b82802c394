package coordinator

import (
	"context"
	"time"

	"github.com/drover-dev/drover"
)

// retentionLoop runs CollectGarbage every GCInterval until ctx ends.
// The first round runs one SweepInterval after Start.
// The loop looks at the clock every SweepInterval, so a test's clock
// drives it too, and no round comes sooner than that.
func (c *Coordinator) retentionLoop(ctx context.Context) {
	t := time.NewTicker(c.cfg.SweepInterval)
	defer t.Stop()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if now := c.now(); now.Sub(last) >= c.cfg.GCInterval {
			last = now
			if err := c.CollectGarbage(ctx); err != nil && ctx.Err() == nil {
				c.log.Error("removing old jobs", "err", err)
			}
		}
	}
}

// CollectGarbage removes what drover keeps no longer.
// It removes jobs finished longer than Retention ago, with their attempts
// and output. It then removes the bundles no job names any more, once
// BundleGrace has passed since their last upload. Last it forgets workers
// DOWN for longer than DownRetention.
// It deletes in batches so that no transaction runs long.
func (c *Coordinator) CollectGarbage(ctx context.Context) error {
	now := c.now()
	before := now.Add(-c.cfg.Retention)
	total, err := inBatches(500, func(n int) (int, error) { return c.store.DeleteFinished(ctx, before, n) })
	if total > 0 {
		c.log.Info("removed old jobs", "count", total, "finished_before", before)
	}
	if err != nil {
		return err
	}
	// A bundle can be as large as --bundle-max-size, so a few go at a time.
	uploaded := now.Add(-c.cfg.BundleGrace)
	total, err = inBatches(8, func(n int) (int, error) { return c.store.DeleteUnusedBundles(ctx, uploaded, n) })
	if total > 0 {
		c.log.Info("removed bundles no job uses", "count", total, "uploaded_before", uploaded)
	}
	if err != nil {
		return err
	}
	return c.forgetDownWorkers(ctx)
}

// inBatches calls del with n until it removes fewer than n.
// It returns how many it removed in all.
func inBatches(n int, del func(n int) (int, error)) (int, error) {
	total := 0
	for {
		k, err := del(n)
		total += k
		if err != nil || k < n {
			return total, err
		}
	}
}

// forgetDownWorkers removes workers DOWN and silent for longer than
// DownRetention.
// One that comes back later is told it is unknown and registers again.
func (c *Coordinator) forgetDownWorkers(ctx context.Context) error {
	ws, err := c.store.Fleet(ctx)
	if err != nil {
		return err
	}
	before := c.now().Add(-c.cfg.DownRetention)
	for _, w := range ws {
		if w.State != drover.WorkerDown || !w.LastHeartbeatAt.Before(before) {
			continue
		}
		// The store checks again as it removes the worker.
		// The worker may have come back since the list was read.
		// It may still hold attempts that a cut-short reaping round left.
		// The next round ends them, and a later one removes the worker.
		gone, err := c.store.ForgetWorker(ctx, w.ID, before)
		if err != nil {
			return err
		}
		if !gone {
			continue
		}
		c.pollWakeups.forget(w.ID)
		c.forgetWorker(w.ID)
		c.log.Info("forgot a worker down for long", "worker", w.ID, "name", w.Name, "last_heartbeat", w.LastHeartbeatAt)
		c.events.Publish(drover.Event{Type: "worker", Worker: &drover.Worker{ID: w.ID, State: "LEFT"}})
	}
	return nil
}
