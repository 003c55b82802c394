package worker

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/client"
)

// reportTimeout bounds one POST /workers/{id}/reports. It is shorter than a
// sender's postTimeout, so a report that waited for the request before its
// own still has an answer before its sender gives up on it.
const reportTimeout = 25 * time.Second

// reportAPI is what the reporter needs of the coordinator: the batched call,
// and the per-attempt calls for a coordinator that has no batched one.
type reportAPI interface {
	Report(ctx context.Context, workerID string, reports []drover.AttemptReport) ([]error, error)
	Start(ctx context.Context, attemptID string, req drover.StartRequest) error
	Finish(ctx context.Context, attemptID string, req drover.FinishRequest) error
}

// batchedAPI is the attemptAPI of the worker's senders: output goes
// straight to the coordinator, starts and finishes through the reporter.
type batchedAPI struct {
	*client.Client
	r *reporter
}

func (b batchedAPI) Start(ctx context.Context, attemptID string, req drover.StartRequest) error {
	return b.r.Start(ctx, attemptID, req)
}

func (b batchedAPI) Finish(ctx context.Context, attemptID string, req drover.FinishRequest) error {
	return b.r.Finish(ctx, attemptID, req)
}

// attemptAPI is what an attempt's sender reports through.
func (w *Worker) attemptAPI() attemptAPI { return batchedAPI{Client: w.client(), r: w.reports} }

// reporter sends the starts and finishes of all the worker's attempts, as
// output is sent: at once when no report request is in flight, and those
// that come in while one is go together in the next. At one attempt at a
// time nothing waits; a worker ending many short attempts at once pays a
// request (and, since the coordinator applies them together, a commit)
// per batch instead of one per attempt.
//
// Each sender still sees one call per report, with that report's own
// answer, so its ordering, retries and stale handling are unchanged.
type reporter struct {
	api      func() reportAPI
	workerID func() string
	log      *slog.Logger

	mu     sync.Mutex
	queue  []*report
	single bool // the coordinator has no batched call: report one by one
	wake   chan struct{}
}

type report struct {
	drover.AttemptReport
	taken bool       // in a request: too late to withdraw
	done  chan error // buffered
}

func newReporter(api func() reportAPI, workerID func() string, log *slog.Logger) *reporter {
	return &reporter{api: api, workerID: workerID, log: log, wake: make(chan struct{}, 1)}
}

// Start implements attemptAPI's start through the batch.
func (r *reporter) Start(ctx context.Context, attemptID string, req drover.StartRequest) error {
	return r.send(ctx, drover.AttemptReport{AttemptID: attemptID, Start: &req})
}

// Finish implements attemptAPI's finish through the batch.
func (r *reporter) Finish(ctx context.Context, attemptID string, req drover.FinishRequest) error {
	return r.send(ctx, drover.AttemptReport{AttemptID: attemptID, Finish: &req})
}

// send queues a report and waits for its answer. When ctx ends first, a
// report still queued is withdrawn; one already in a request is left to it.
func (r *reporter) send(ctx context.Context, rep drover.AttemptReport) error {
	r.mu.Lock()
	if r.single {
		r.mu.Unlock()
		return r.sendOne(ctx, rep)
	}
	it := &report{AttemptReport: rep, done: make(chan error, 1)}
	r.queue = append(r.queue, it)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	select {
	case err := <-it.done:
		return err
	case <-ctx.Done():
		r.mu.Lock()
		if !it.taken {
			for i, q := range r.queue {
				if q == it {
					r.queue = append(r.queue[:i], r.queue[i+1:]...)
					break
				}
			}
		}
		r.mu.Unlock()
		return ctx.Err()
	}
}

func (r *reporter) sendOne(ctx context.Context, rep drover.AttemptReport) error {
	if rep.Start != nil {
		return r.api().Start(ctx, rep.AttemptID, *rep.Start)
	}
	return r.api().Finish(ctx, rep.AttemptID, *rep.Finish)
}

// run sends the queued reports until ctx ends; run it until every attempt
// has reported.
func (r *reporter) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			r.failQueued(ctx.Err())
			return
		case <-r.wake:
		}
		for {
			batch := r.take()
			if len(batch) == 0 {
				break
			}
			r.post(ctx, batch)
		}
	}
}

// take removes up to drover.MaxReports reports from the queue.
func (r *reporter) take() []*report {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := min(len(r.queue), drover.MaxReports)
	batch := make([]*report, n)
	copy(batch, r.queue[:n])
	r.queue = append(r.queue[:0], r.queue[n:]...)
	for _, it := range batch {
		it.taken = true
	}
	return batch
}

func (r *reporter) post(ctx context.Context, batch []*report) {
	reps := make([]drover.AttemptReport, len(batch))
	for i, it := range batch {
		reps[i] = it.AttemptReport
	}
	pctx, cancel := context.WithTimeout(ctx, reportTimeout)
	errs, err := r.api().Report(pctx, r.workerID(), reps)
	cancel()
	if errors.Is(err, client.ErrNoReports) {
		// A coordinator older than the batched call: the route is unknown.
		// Report one by one from now on.
		r.log.Info("coordinator has no batched reports; reporting attempt by attempt", "err", err)
		r.mu.Lock()
		r.single = true
		r.mu.Unlock()
		var wg sync.WaitGroup
		for _, it := range batch {
			wg.Go(func() { it.done <- r.sendOne(ctx, it.AttemptReport) })
		}
		wg.Wait()
		return
	}
	for i, it := range batch {
		if err != nil {
			it.done <- err
		} else {
			it.done <- errs[i]
		}
	}
}

// failQueued answers what is still queued when the reporter stops.
func (r *reporter) failQueued(err error) {
	r.mu.Lock()
	q := r.queue
	r.queue = nil
	r.mu.Unlock()
	for _, it := range q {
		it.done <- err
	}
}
