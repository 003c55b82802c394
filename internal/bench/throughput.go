package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/client"
	"github.com/drover-dev/drover/internal/retry"
)

// batch is one set of jobs submitted together and waited for.
type batch struct {
	first time.Time       // the first submission began
	last  time.Time       // the last completion was heard of
	ids   []string        // in submission order
	calls []time.Duration // POST /jobs round trips
}

// submitAll submits n copies of spec from the configured number of
// submitters, and waits until every one has ended. It submits as drover
// submit does, with an idempotency key, and retries transient failures.
func (b *bench) submitAll(ctx context.Context, n int, spec drover.JobSpec) (*batch, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := b.track.begin(n)
	bt := &batch{ids: make([]string, n), calls: make([]time.Duration, n)}
	var next atomic.Int64
	var wg sync.WaitGroup
	bt.first = time.Now()
	for range min(b.cfg.Concurrency, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				j, err := b.submit(ctx, spec, fmt.Sprintf("%s-%d-%d", b.runID, bt.first.UnixNano(), i))
				if err != nil {
					cancel(fmt.Errorf("submit: %w", err))
					return
				}
				bt.calls[i] = time.Since(t0)
				bt.ids[i] = j.ID
				b.track.expect(j.ID)
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	if err := b.track.wait(ctx, done, 3*time.Second); err != nil {
		return nil, err
	}
	for _, id := range bt.ids {
		if e, _ := b.track.get(id); e.arrived.After(bt.last) {
			bt.last = e.arrived
		}
	}
	return bt, nil
}

// submitRetry retries a submission that failed on the way. An answer of
// the coordinator's is final.
var submitRetry = retry.Policy{Backoff: retry.Backoff{First: 50 * time.Millisecond}, Tries: 6, Retryable: client.Temporary}

// submit submits spec and retries transient failures. Every try carries
// the same idempotency key, so a retry returns the job the first made.
func (b *bench) submit(ctx context.Context, spec drover.JobSpec, key string) (*drover.Job, error) {
	var j *drover.Job
	err := retry.Do(ctx, submitRetry, func(ctx context.Context) (err error) {
		j, err = b.api.Submit(ctx, spec, key)
		return err
	})
	return j, err
}

// prefill runs Finished noop jobs to completion.
func (b *bench) prefill(ctx context.Context) error {
	b.logf("prefill: running %d noop jobs to completion", b.cfg.Finished)
	bt, err := b.submitAll(ctx, b.cfg.Finished, b.spec(drover.ExecutorNoop, "true"))
	if err != nil {
		return fmt.Errorf("prefill: %w", err)
	}
	b.res.Finished = b.cfg.Finished
	b.res.FinishedElapsed = bt.last.Sub(bt.first).Seconds()
	b.track.forget()
	return nil
}

// throughput submits Jobs jobs as fast as the submitters go and measures
// from the first submission to the last completion.
func (b *bench) throughput(ctx context.Context) error {
	b.logf("throughput: %d %s jobs, %d submitters", b.cfg.Jobs, b.cfg.Executor, b.cfg.Concurrency)
	before, err := b.stats.read(ctx)
	if err != nil {
		return err
	}
	busy := startBusy()
	bt, err := b.submitAll(ctx, b.cfg.Jobs, b.mainSpec())
	if err != nil {
		return err
	}
	r := b.res
	r.ThroughputBusy = busy.stop()
	after, err := b.stats.read(ctx)
	if err != nil {
		return err
	}
	r.ThroughputCPU = after.CPU - before.CPU
	r.Elapsed = bt.last.Sub(bt.first)
	r.JobsPerSec = float64(b.cfg.Jobs) / r.Elapsed.Seconds()
	r.SubmitCall = summarise(bt.calls)
	var starts []time.Duration
	for _, id := range bt.ids {
		e, _ := b.track.get(id)
		if e.state != drover.JobCompleted {
			r.Failed++
			continue
		}
		if e.startedAt != nil {
			starts = append(starts, e.startedAt.Sub(e.createdAt))
		}
	}
	r.LoadedStart = summarise(starts)
	if r.FloorPerSec > 0 {
		r.RatioToFloor = r.JobsPerSec / r.FloorPerSec
	}
	b.logf("throughput: %.0f jobs/s (%d in %s)", r.JobsPerSec, b.cfg.Jobs, r.Elapsed.Round(time.Millisecond))
	if r.Failed > 0 {
		return fmt.Errorf("%d of %d jobs did not complete: see drover jobs --state FAILED on %s", r.Failed, b.cfg.Jobs, b.cfg.Server)
	}
	b.track.forget()
	return nil
}

// startLatency submits jobs one at a time, each after the previous ended,
// and takes createdAt → startedAt from the jobs' own timestamps.
func (b *bench) startLatency(ctx context.Context) error {
	n := b.cfg.LatencyJobs
	b.logf("submit-to-start: %d %s jobs, one at a time", n, b.cfg.Executor)
	var ds []time.Duration
	for i := range n {
		done := b.track.begin(1)
		j, err := b.submit(ctx, b.mainSpec(), fmt.Sprintf("%s-light-%d", b.runID, i))
		if err != nil {
			return err
		}
		b.track.expect(j.ID)
		if err := b.track.wait(ctx, done, 3*time.Second); err != nil {
			return err
		}
		e, _ := b.track.get(j.ID)
		if e.state != drover.JobCompleted || e.startedAt == nil {
			return fmt.Errorf("job %s ended %s: %s", j.ID, e.state, e.message)
		}
		ds = append(ds, e.startedAt.Sub(e.createdAt))
	}
	b.res.StartLight = summarise(ds)
	b.track.forget()
	return nil
}
