package worker

import (
	"context"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/client"
)

// pollLoop long-polls for work until ctx ends. A failed poll is tried
// again after a wait, and a refused one too: the worker has no other way
// to get work.
func (w *Worker) pollLoop(ctx context.Context) {
	wait := coordinatorBackoff
	for ctx.Err() == nil {
		sent := time.Now()
		resp, err := w.poll(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			d := wait.Next()
			if !client.Temporary(err) {
				w.log.Warn("long-poll refused", "err", err)
			} else {
				w.log.Warn("long-poll failed; retrying", "err", err, "in", d)
			}
			if wait.Sleep(ctx, d) != nil {
				return
			}
			continue
		}
		wait.Reset()
		// Launch first, so a stop in the same answer reaches its attempt.
		for _, a := range resp.Assignments {
			w.launch(ctx, a, ackBy(sent, resp.Waited.D(), a.AckWithin.D()))
		}
		if len(resp.Stop) > 0 {
			w.stop(resp.Stop, errStopped)
		}
		if resp.Drain {
			w.Drain()
		}
	}
}

// poll asks the coordinator for work once. It waits up to PollWait for an
// answer, and a margin more for the answer's way back.
func (w *Worker) poll(ctx context.Context) (*drover.WorkResponse, error) {
	pctx, cancel := context.WithTimeout(ctx, w.cfg.PollWait+15*time.Second)
	defer cancel()
	w.mu.Lock()
	draining := w.draining
	w.mu.Unlock()
	return w.coordinator().Work(pctx, w.ID(), w.cfg.PollWait, draining)
}

// ackBy is when an assignment must be acknowledged, by this worker's
// clock, for the coordinator to still count it as this worker's. The
// coordinator's window of ackWithin began no earlier than the poll was
// sent plus the time the coordinator held it (waited). ackBy keeps a
// margin for the start report's way there. Past ackBy the worker asks
// before it runs the command. A worker paused past the window would
// otherwise run a job the coordinator gave to another. ackBy is zero when
// the coordinator does not say.
func ackBy(sent time.Time, waited, ackWithin time.Duration) time.Time {
	if ackWithin <= 0 {
		return time.Time{}
	}
	return sent.Add(waited + ackWithin - min(5*time.Second, ackWithin/3))
}
