package coordinator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/sched"
	"github.com/drover-dev/drover/internal/store"
)

// Submit validates a spec and queues a job. A job that no registered worker
// could ever run is refused with EUNSCHEDULABLE. Either no worker offers
// its executor, or none that does is large enough. With no worker
// registered, the job waits. With an idempotency key, a repeated
// submission returns the first job, and created is false.
func (c *Coordinator) Submit(ctx context.Context, spec drover.JobSpec, idemKey string) (*drover.Job, bool, error) {
	if err := spec.Normalize(); err != nil {
		return nil, false, err
	}
	if len(idemKey) > 200 {
		return nil, false, drover.Errorf(drover.EINVALID, "Idempotency-Key is %d characters; the limit is 200", len(idemKey))
	}
	if field, msg, err := c.unschedulable(ctx, spec); err != nil {
		return nil, false, fmt.Errorf("submit: %w", err)
	} else if msg != "" {
		if field == "resources" {
			msg += "; lower the request or add a larger worker"
		}
		return nil, false, &drover.Error{Code: drover.EUNSCHEDULABLE, Field: field, Message: "no worker could ever run this job: " + msg}
	}
	if spec.Bundle != "" {
		if _, err := c.store.GetBundle(ctx, spec.Bundle); drover.IsCode(err, drover.ENOTFOUND) {
			return nil, false, drover.FieldErrorf("bundle", "bundle %s is not on this coordinator: upload the ZIP first (POST /api/v1/bundles, or drover run --bundle)", spec.Bundle)
		} else if err != nil {
			return nil, false, fmt.Errorf("submit: %w", err)
		}
	}
	now := c.now()
	j := &drover.Job{
		ID:        drover.NewID("job"),
		Spec:      spec,
		State:     drover.JobQueued,
		CreatedAt: now,
		QueuedAt:  &now,
	}
	j, created, err := c.store.CreateJob(ctx, j, idemKey)
	if err != nil {
		return nil, false, fmt.Errorf("submit: %w", err)
	}
	if !created && !sameSpec(&j.Spec, &spec) {
		return nil, false, drover.Errorf(drover.ECONFLICT, "Idempotency-Key %q was used for another job (%s) with a different spec: use a new key for a new job", idemKey, j.ID)
	}
	if created {
		c.metrics.submitted.Inc()
		c.publishJob(j)
		c.wakeQueued()
	}
	return j, created, nil
}

// unschedulable says why no registered worker could ever run spec.
// It names the spec field at fault too. Both are "" when a worker could,
// as sched.Unschedulable says.
// The fleet view is enough to accept a job.
// A refusal is always decided on a fresh read of the workers.
func (c *Coordinator) unschedulable(ctx context.Context, spec drover.JobSpec) (field, msg string, err error) {
	now := c.now()
	if ws := c.fleet.recent(now); ws != nil {
		if _, msg := sched.Unschedulable(spec, ws); msg == "" {
			return "", "", nil
		}
	}
	ws, err := c.store.Fleet(ctx)
	if err != nil {
		return "", "", err
	}
	if ws == nil {
		ws = []drover.Worker{}
	}
	c.fleet.set(ws, now)
	field, msg = sched.Unschedulable(spec, ws)
	return field, msg, nil
}

// Job returns a job with its attempts.
//
// A queued job without a reason is told it waits its turn. A scheduling
// pass looks at the head of the queue only, so a job deep in a long queue
// has no reason of its own yet. One queued a moment ago may simply not
// have been looked at yet. "Why is my job pending?" then always has an
// answer.
func (c *Coordinator) Job(ctx context.Context, id string) (*drover.Job, error) {
	j, err := c.store.GetJob(ctx, id)
	now := c.now()
	if err != nil || j.State != drover.JobQueued || j.PendingReason != "" || j.NotBefore != nil && j.NotBefore.After(now) {
		return j, err
	}
	if j.QueuedAt != nil && now.Sub(*j.QueuedAt) < justQueued {
		j.PendingReason = "waiting for the scheduler to place it"
	} else {
		// Deeper in the queue than the passes read, or a pass has not run
		// since a restart.
		j.PendingReason = "waiting for the scheduler to reach it"
	}
	return j, nil
}

// justQueued is how long after queueing a job without a reason of its own
// is said to wait for the scheduler rather than behind other jobs.
const justQueued = time.Second

// Jobs lists jobs newest first.
func (c *Coordinator) Jobs(ctx context.Context, f drover.JobFilter) (*drover.JobPage, error) {
	f.States, f.State = f.AllStates(), ""
	for _, st := range f.States {
		if !st.Valid() {
			return nil, drover.Errorf(drover.EINVALID, "state %q is unknown: use one of QUEUED, ASSIGNED, RUNNING, COMPLETED, FAILED, CANCELLED", st)
		}
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	if f.Limit > 1000 {
		return nil, drover.Errorf(drover.EINVALID, "limit %d is too large: the most is 1000; page with the cursor", f.Limit)
	}
	// A cursor is the last job id of the page before; anything else would
	// silently list from some other point.
	if f.Cursor != "" && (!strings.HasPrefix(f.Cursor, "job_") || len(f.Cursor) > 64) {
		return nil, drover.Errorf(drover.EINVALID, "cursor %s is not one a page returned: pass nextCursor as it came, or none for the first page", drover.Quote(f.Cursor))
	}
	jobs, next, err := c.store.ListJobs(ctx, f)
	if err != nil {
		return nil, err
	}
	if jobs == nil {
		jobs = []drover.Job{}
	}
	return &drover.JobPage{Jobs: jobs, NextCursor: next}, nil
}

// Cancel cancels a job.
// A queued job is CANCELLED at once, and so is one whose assignment was not
// yet acknowledged. A running job is stopped by its worker with SIGTERM,
// then SIGKILL after the grace. It becomes CANCELLED when its attempt ends.
func (c *Coordinator) Cancel(ctx context.Context, id string) (*drover.Job, error) {
	j, err := c.store.CancelJob(ctx, id, c.now())
	if err != nil {
		return nil, err
	}
	// The worker's long-poll wakes, so the stop is pushed at once.
	if j.WorkerID != "" {
		c.pollWakeups.notify(j.WorkerID)
	}
	if j.State.Final() {
		c.metrics.jobFinished(j)
		c.Wake() // resources were freed
	}
	c.publishJob(j)
	return j, nil
}

// CancelMany cancels jobs as Cancel does, in one transaction.
// A job of the list then cannot start in a slot another of them frees.
// Each job has its own result.
func (c *Coordinator) CancelMany(ctx context.Context, ids []string) ([]store.CancelResult, error) {
	rs, err := c.store.CancelJobs(ctx, ids, c.now())
	if err != nil {
		return nil, err
	}
	notified, freed := map[string]bool{}, false
	for _, r := range rs {
		j := r.Job
		if j == nil {
			continue
		}
		if j.WorkerID != "" && !notified[j.WorkerID] {
			notified[j.WorkerID] = true
			c.pollWakeups.notify(j.WorkerID)
		}
		if j.State.Final() {
			c.metrics.jobFinished(j)
			freed = true
		}
		c.publishJob(j)
	}
	if freed {
		c.Wake()
	}
	return rs, nil
}

// Output returns a job's output chunks after afterID.
func (c *Coordinator) Output(ctx context.Context, jobID string, afterID int64, stream drover.Stream, limit int) ([]drover.StoredChunk, error) {
	return c.store.ReadOutput(ctx, jobID, afterID, stream, limit)
}

// Watch subscribes to a job's changes (new output, new state).
func (c *Coordinator) Watch(jobID string) *Watcher {
	return c.watch.watch(jobID)
}

// sameSpec compares two normalized specs as the API would show them.
func sameSpec(a, b *drover.JobSpec) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}
