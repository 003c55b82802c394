package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/retry"
)

func (w *Worker) heartbeatLoop(ctx context.Context) {
	m := newMachineStats()
	w.heartbeat(ctx, m) // usage shows at once, not one interval later
	for {
		w.mu.Lock()
		interval := w.interval
		w.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry.Jitter(interval)):
		}
		w.heartbeat(ctx, m)
	}
}

func (w *Worker) heartbeatNow(ctx context.Context) { w.heartbeat(ctx, nil) }

func (w *Worker) heartbeat(ctx context.Context, m *machineStats) {
	var usage drover.WorkerUsage
	if m != nil {
		usage = m.sample()
	}
	w.mu.Lock()
	draining := w.draining
	// An extra heartbeat (a drain's) measures nothing: it repeats the last
	// figures rather than report an idle machine.
	if m != nil {
		w.lastUsage = usage
	} else {
		usage = w.lastUsage
	}
	w.mu.Unlock()
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := w.coordinator().Heartbeat(hctx, w.ID(), drover.HeartbeatRequest{Usage: usage, Running: w.runningIDs(), Draining: draining})
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		if drover.IsCode(err, drover.EUNAUTHORIZED) || drover.IsCode(err, drover.ENOTFOUND) {
			// The coordinator forgot us (its data was reset, or we were
			// removed): what we run is not current any more. A refusal
			// to register again (no join token left, the name taken)
			// ends the worker: heartbeating on would only repeat it.
			w.log.Warn("coordinator does not know this worker; registering again", "err", err)
			w.stopAll(errStale)
			if err := w.register(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, errDrainedUnregistered) {
				w.stopWith(fmt.Errorf("register again: %w", err))
			}
			return
		}
		if drover.IsCode(err, drover.ECONFLICT) {
			// Found DOWN, and another worker took its name meanwhile: its
			// attempts were failed when it was found DOWN.
			w.stopAll(errStale)
			w.stopWith(fmt.Errorf("heartbeat: %w", err))
			return
		}
		w.log.Warn("heartbeat failed", "err", err)
		return
	}
	if len(resp.Stop) > 0 {
		w.stop(resp.Stop, errStopped)
	}
	if resp.Drain {
		w.Drain()
	}
}
