package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/retry"
)

// heartbeatLoop heartbeats until ctx ends. It waits the interval the
// coordinator gave, with jitter, between two heartbeats. The first goes at
// once, so the worker's usage shows without waiting an interval.
func (w *Worker) heartbeatLoop(ctx context.Context) {
	m := newMachineStats()
	w.heartbeat(ctx, m)
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

// heartbeatNow sends an extra heartbeat, as a drain does.
func (w *Worker) heartbeatNow(ctx context.Context) { w.heartbeat(ctx, nil) }

// heartbeat reports the worker's usage and the attempts it runs. Then it
// stops the attempts the coordinator names, and drains when told to.
func (w *Worker) heartbeat(ctx context.Context, m *machineStats) {
	usage, draining := w.usage(m)
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := w.coordinator().Heartbeat(hctx, w.ID(), drover.HeartbeatRequest{Usage: usage, Running: w.runningIDs(), Draining: draining})
	if err != nil {
		if ctx.Err() == nil {
			w.heartbeatFailed(ctx, err)
		}
		return
	}
	if len(resp.Stop) > 0 {
		w.stop(resp.Stop, errStopped)
	}
	if resp.Drain {
		w.Drain()
	}
}

// usage is what a heartbeat reports: the machine's usage and whether the
// worker drains. m measures the machine. A nil m measures nothing and
// repeats the last figures, rather than report an idle machine.
func (w *Worker) usage(m *machineStats) (drover.WorkerUsage, bool) {
	var usage drover.WorkerUsage
	if m != nil {
		usage = m.sample()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if m != nil {
		w.lastUsage = usage
	} else {
		usage = w.lastUsage
	}
	return usage, w.draining
}

// heartbeatFailed acts on a heartbeat that failed. Any failure but two
// waits for the next heartbeat.
//
// A coordinator that no longer knows the worker forgot it: its data was
// reset, or it removed the worker. What the worker runs is no longer
// current, and it registers again. A refusal to register again ends the
// worker. Heartbeating on would only repeat it.
//
// A conflict says the worker was found DOWN and another worker took its
// name meanwhile. Its attempts failed when it was found DOWN. The worker
// stops.
func (w *Worker) heartbeatFailed(ctx context.Context, err error) {
	switch {
	case drover.IsCode(err, drover.EUNAUTHORIZED) || drover.IsCode(err, drover.ENOTFOUND):
		w.log.Warn("coordinator does not know this worker; registering again", "err", err)
		w.stopAll(errStale)
		if err := w.register(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, errDrainedUnregistered) {
			w.stopWith(fmt.Errorf("register again: %w", err))
		}
	case drover.IsCode(err, drover.ECONFLICT):
		w.stopAll(errStale)
		w.stopWith(fmt.Errorf("heartbeat: %w", err))
	default:
		w.log.Warn("heartbeat failed", "err", err)
	}
}
