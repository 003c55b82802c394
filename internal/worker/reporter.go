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
func (w *Worker) attemptAPI() attemptAPI { return batchedAPI{Client: w.coordinator(), r: w.reports} }

// reporter sends the starts and finishes of all the worker's attempts.
// It sends them as output is sent. A report goes at once when no report
// request is in flight. Those that come in while one is go together in the
// next. At one attempt at a time nothing waits. A worker ending many short
// attempts at once pays a request per batch instead of one per attempt.
// The coordinator applies a batch together, so it pays one commit too.
//
// Each sender still sees one call per report, with that report's own
// answer. Its ordering, retries and stale handling are thus the same as
// without batches.
type reporter struct {
	target func() (reportAPI, string) // the client and the worker id, read together
	log    *slog.Logger
	now    func() time.Time

	mu          sync.Mutex
	queue       []*report
	singleUntil time.Time // the coordinator has no batched call: report one by one until then
	wake        chan struct{}
}

// maxBatchBytes bounds the JSON of a request of reports. It stays well
// under the coordinator's default body limit. A request also carries at
// most drover.MaxReports reports. A single report is always sent,
// whatever its size.
const maxBatchBytes = 512 << 10

// retryBatched is how long a worker that found no batched call reports
// one by one. It then tries the batched call again. The coordinator may
// have been upgraded, or the answer may have come from a proxy.
const retryBatched = 10 * time.Minute

type report struct {
	drover.AttemptReport
	taken bool       // in a request: too late to withdraw
	done  chan error // buffered
}

func newReporter(target func() (reportAPI, string), log *slog.Logger) *reporter {
	return &reporter{target: target, log: log, now: time.Now, wake: make(chan struct{}, 1)}
}

// Start implements attemptAPI's start through the batch.
func (r *reporter) Start(ctx context.Context, attemptID string, req drover.StartRequest) error {
	return r.send(ctx, drover.AttemptReport{AttemptID: attemptID, Start: &req}, nil)
}

// StartUnlessEnded is Start, except that the report is withdrawn if ended
// closes while the report still waits in the queue. The command then
// ended before its start went out, and the finish can carry both. It
// reports whether it withdrew the report. Once the report is in a request,
// ended does not matter, and its answer is awaited as Start's would be.
func (r *reporter) StartUnlessEnded(ctx context.Context, attemptID string, req drover.StartRequest, ended <-chan struct{}) (withdrawn bool, err error) {
	err = r.send(ctx, drover.AttemptReport{AttemptID: attemptID, Start: &req}, ended)
	if errors.Is(err, errWithdrawn) {
		return true, nil
	}
	return false, err
}

// Finish implements attemptAPI's finish through the batch.
func (r *reporter) Finish(ctx context.Context, attemptID string, req drover.FinishRequest) error {
	return r.send(ctx, drover.AttemptReport{AttemptID: attemptID, Finish: &req}, nil)
}

// errWithdrawn is send's answer for a report taken back before it went out.
var errWithdrawn = errors.New("report withdrawn before it was sent")

// send queues a report and waits for its answer.
// When ctx ends or withdraw closes first, a report still queued is
// withdrawn. A report withdrawn that way gives errWithdrawn. A report
// already in a request is left to it. A closed withdraw then still waits
// for its answer, while an ended ctx does not.
func (r *reporter) send(ctx context.Context, rep drover.AttemptReport, withdraw <-chan struct{}) error {
	r.mu.Lock()
	if r.now().Before(r.singleUntil) {
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
	for {
		select {
		case err := <-it.done:
			return err
		case <-withdraw:
			if r.withdraw(it) {
				return errWithdrawn
			}
			withdraw = nil // in a request: wait for its answer
		case <-ctx.Done():
			r.withdraw(it)
			return ctx.Err()
		}
	}
}

// withdraw removes it from the queue unless a request took it, and says
// whether it did.
func (r *reporter) withdraw(it *report) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if it.taken {
		return false
	}
	for i, q := range r.queue {
		if q == it {
			r.queue = append(r.queue[:i], r.queue[i+1:]...)
			break
		}
	}
	return true
}

func (r *reporter) sendOne(ctx context.Context, rep drover.AttemptReport) error {
	api, _ := r.target()
	if rep.Start != nil {
		return api.Start(ctx, rep.AttemptID, *rep.Start)
	}
	return api.Finish(ctx, rep.AttemptID, *rep.Finish)
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

// take removes from the queue up to drover.MaxReports reports and about
// maxBatchBytes of them, and at least one.
func (r *reporter) take() []*report {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, size := 0, 0
	for n < len(r.queue) && n < drover.MaxReports {
		sz := reportSize(&r.queue[n].AttemptReport)
		if n > 0 && size+sz > maxBatchBytes {
			break
		}
		size += sz
		n++
	}
	batch := make([]*report, n)
	copy(batch, r.queue[:n])
	r.queue = append(r.queue[:0], r.queue[n:]...)
	for _, it := range batch {
		it.taken = true
	}
	return batch
}

// reportSize bounds a report's JSON from above. It counts the fixed
// fields, and the texts as if every byte were escaped as \u00XX.
func reportSize(rep *drover.AttemptReport) int {
	n := 512 + len(rep.AttemptID)
	if f := rep.Finish; f != nil {
		n += 6 * (len(f.Message) + len(f.Reason))
	}
	return n
}

func (r *reporter) post(ctx context.Context, batch []*report) {
	reps := make([]drover.AttemptReport, len(batch))
	for i, it := range batch {
		reps[i] = it.AttemptReport
	}
	api, workerID := r.target()
	pctx, cancel := context.WithTimeout(ctx, reportTimeout)
	errs, err := api.Report(pctx, workerID, reps)
	cancel()
	switch {
	case err == nil:
		for i, it := range batch {
			it.done <- errs[i]
		}
	case errors.Is(err, client.ErrNoReports):
		// A coordinator older than the batched call.
		r.log.Info("coordinator has no batched reports; reporting attempt by attempt", "err", err, "retry_in", retryBatched)
		r.mu.Lock()
		r.singleUntil = r.now().Add(retryBatched)
		r.mu.Unlock()
		r.oneByOne(ctx, batch)
	case len(batch) > 1 && !client.Temporary(err):
		// The request as a whole was refused, as too large, say. That
		// answer is about the request, not about each attempt. Each is
		// sent on its own to get its own answer.
		r.log.Warn("batched reports refused; sending them one by one", "reports", len(batch), "err", err)
		r.oneByOne(ctx, batch)
	default:
		// Transient (each sender retries), or the one report's own answer.
		for _, it := range batch {
			it.done <- err
		}
	}
}

// oneByOne sends each report of batch with the per-attempt calls.
func (r *reporter) oneByOne(ctx context.Context, batch []*report) {
	var wg sync.WaitGroup
	for _, it := range batch {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, reportTimeout)
			defer cancel()
			it.done <- r.sendOne(pctx, it.AttemptReport)
		})
	}
	wg.Wait()
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
