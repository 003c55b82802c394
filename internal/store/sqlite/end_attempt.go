package sqlite

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/store"
)

// EndAttempt implements store.Store.
//
// decide runs inside the write transaction. It must be quick, and must not
// call the store, which would wait for the transaction it runs in.
//
// A job already final keeps its state, because final states never change.
// decide is then not called, and the attempt still ends.
//
// EndAttempt reads the job and its attempt once. It then returns them as
// its updates leave them, worked out in Go rather than read back. Each
// update is therefore written twice below: as SQL and as its Go copy.
// TestResultsEqualReadBack checks that the two agree.
func (s *Store) EndAttempt(ctx context.Context, id string, end store.AttemptEnd, decide func(j *drover.Job, a *drover.Attempt) store.JobOutcome) (*drover.Job, error) {
	if !end.State.Final() {
		return nil, drover.Errorf(drover.EINVALID, "end attempt %s: state %q is not final", id, end.State)
	}
	var j *drover.Job
	err := s.write(ctx, func(x *session) error {
		a, job, err := activeAttemptAndJob(x, id)
		if err != nil {
			return err
		}
		if end.If != "" && (a.State != end.If || end.If == drover.AttemptAssigned && a.AcceptedAt != nil) {
			return drover.Errorf(drover.ECONFLICT, "attempt %s is %s, no longer %s", id, a.State, end.If)
		}
		times := timesOfEnd(a, end)
		if err := endAttempt(x, a, end, times); err != nil {
			return err
		}
		j = job
		// The attempt's output is all in, so it is trimmed to the cap.
		// Appends may pass the cap by up to a quarter. Only a job that
		// produced more than the cap can be over it.
		if j.OutputBytes > s.outputCap {
			if j.OutputDropped, err = s.endOutput(x, a.JobID); err != nil {
				return err
			}
		}
		if j.Attempts, err = attemptsWith(x, a); err != nil {
			return err
		}
		if j.State.Final() {
			return nil
		}
		after, err := settleJob(x, j, id, decide, times)
		if err != nil {
			return err
		}
		j = after
		return nil
	})
	return j, err
}

// endTimes is when an attempt ended and how long it spent in each phase.
type endTimes struct {
	at int64 // the end, in unix nanoseconds
	// started is the start reported with the end, when the attempt had
	// none. It is nil otherwise.
	started *time.Time
	phases  drover.Phases
}

// timesOfEnd works out the times EndAttempt records, from a as stored and
// end as reported. It changes neither.
//
// A worker dates an end, and a start reported with it, by its own clock
// and memory. The end is therefore never before the attempt's assignment
// or its start. A start reported with the end lies between the assignment
// and the end.
//
// The phases keep Queued from the assignment. BundleFetch and ImagePull
// come from end when set there, because an attempt that failed before
// starting reports them only there. Otherwise they stay as StartAttempt
// set them. Running is from the start to the end, or to end.RanUntil when
// that comes first. An attempt that never started did not run.
func timesOfEnd(a *drover.Attempt, end store.AttemptEnd) endTimes {
	at := max(unixNano(end.At), assignedAt(a))
	if a.StartedAt != nil {
		at = max(at, unixNano(*a.StartedAt))
	}
	t := endTimes{at: at, phases: a.Phases}
	started := a.StartedAt
	if a.StartedAt == nil && end.StartedAt != nil {
		st := fromUnixNano(min(max(unixNano(*end.StartedAt), assignedAt(a)), at))
		t.started, started = &st, &st
	}
	if end.Phases.BundleFetch != 0 {
		t.phases.BundleFetch = end.Phases.BundleFetch
	}
	if end.Phases.ImagePull != 0 {
		t.phases.ImagePull = end.Phases.ImagePull
	}
	t.phases.Running = 0
	if started != nil {
		until := at
		if end.RanUntil != nil {
			until = min(at, unixNano(*end.RanUntil))
		}
		t.phases.Running = drover.Duration(max(0, until-unixNano(*started)))
	}
	return t
}

// qEndAttempt ends an attempt. A start reported with the end (?8, else
// NULL) is stamped as the attempt's start. It is also its acceptance and
// delivery when it had none, as qStartAttempt would have stamped them.
var qEndAttempt = writeQuery(`UPDATE attempts SET state = ?1, exit_code = ?2, reason = ?3, message = ?4,
	usage = ?5, phases = ?6, finished_at = ?7, started_at = coalesce(started_at, ?8),
	accepted_at = coalesce(accepted_at, ?8), delivered_at = coalesce(delivered_at, ?8) WHERE id = ?9`)

// endAttempt runs qEndAttempt on a's row, then changes a as it changed the
// row. Values go through what the row holds, as a read would.
func endAttempt(x *session, a *drover.Attempt, end store.AttemptEnd, t endTimes) error {
	usage := encodeJSON(end.Usage)
	if _, err := x.exec(qEndAttempt, string(end.State), nullInt(end.ExitCode), string(end.Reason), end.Message,
		usage, encodePhases(t.phases), t.at, nullUnixNano(t.started), a.ID); err != nil {
		return err
	}
	a.State, a.ExitCode = end.State, fromNullInt(nullInt(end.ExitCode)) // state, exit_code
	a.Reason, a.Message = end.Reason, end.Message                       // reason, message
	a.Usage = drover.Usage{}                                            // usage
	if err := json.Unmarshal([]byte(usage), &a.Usage); err != nil {
		return err
	}
	a.Phases = t.phases // phases
	finished := fromUnixNano(t.at)
	a.FinishedAt = &finished // finished_at
	if t.started != nil {
		a.StartedAt = t.started               // started_at
		acknowledged(a, unixNano(*t.started)) // accepted_at, delivered_at
	}
	return nil
}

// settleJob asks decide what becomes of job j now that its attempt
// attemptID has ended. It applies the outcome to the job's row and returns
// the job as the row now is.
func settleJob(x *session, j *drover.Job, attemptID string, decide func(j *drover.Job, a *drover.Attempt) store.JobOutcome, t endTimes) (*drover.Job, error) {
	var ended *drover.Attempt
	for i := range j.Attempts {
		if j.Attempts[i].ID == attemptID {
			ended = &j.Attempts[i]
		}
	}
	// after becomes the job as the update leaves it. The job was read in
	// this transaction and only that update changes it since, so after is
	// worked out rather than read back. The copy is taken before decide
	// sees j, whose fields decide could reassign.
	after := *j
	o := decide(j, ended)
	switch {
	case o.State == drover.JobQueued:
		return &after, requeueJob(x, &after, o, t.at)
	case o.State.Final():
		return &after, finishJob(x, &after, o, t.at, t.started)
	}
	return nil, drover.Errorf(drover.EINTERNAL, "end attempt %s: outcome state %q is neither QUEUED nor final", attemptID, o.State)
}

// qRequeueJob puts a job back in the queue after its attempt ended.
//
// A job's exit code is that of the last attempt that produced one. An
// outcome without one, such as worker_lost, keeps the previous. A job
// retried for its own failure takes its place in the queue anew. One that
// the fleet requeues keeps its place (see migration 0009). An
// executor_error adds the job's worker to avoid_workers (see
// drover.Job.AvoidWorkers).
var qRequeueJob = writeQuery(`UPDATE jobs SET state = 'QUEUED', exit_code = coalesce(?1, exit_code),
	reason = ?2, message = ?3, queued_at = ?4, not_before = ?5, assigned_at = NULL, started_at = NULL,
	pending_reason = '', job_retries = job_retries + ?6, fleet_retries = fleet_retries + ?7,
	queue_rank = CASE WHEN ?6 THEN ?4 ELSE queue_rank END,
	avoid_workers = CASE WHEN ?2 = 'executor_error' AND worker_id != ''
		AND instr(',' || avoid_workers || ',', ',' || worker_id || ',') = 0
		THEN ltrim(avoid_workers || ',' || worker_id, ',') ELSE avoid_workers END
	WHERE id = ?8`)

// requeueJob runs qRequeueJob on j's row, then changes j as it changed the
// row, line by line. Values go through what the row holds, as a read would.
// The row holds unix nanoseconds, UTC and 64-bit integers.
func requeueJob(x *session, j *drover.Job, o store.JobOutcome, at int64) error {
	jr, fr := boolInt(o.JobRetry), boolInt(o.FleetRetry)
	if _, err := x.exec(qRequeueJob, nullInt(o.ExitCode), string(o.Reason), o.Message, at,
		nullUnixNano(o.NotBefore), jr, fr, j.ID); err != nil {
		return err
	}
	j.State = drover.JobQueued // state = 'QUEUED'
	if o.ExitCode != nil {     // exit_code = coalesce(?1, exit_code)
		j.ExitCode = fromNullInt(nullInt(o.ExitCode))
	}
	j.Reason, j.Message = o.Reason, o.Message // reason = ?2, message = ?3
	queued := fromUnixNano(at)
	j.QueuedAt = &queued                                      // queued_at = ?4
	j.NotBefore = fromNullUnixNano(nullUnixNano(o.NotBefore)) // not_before = ?5
	j.AssignedAt, j.StartedAt = nil, nil                      // assigned_at = NULL, started_at = NULL
	j.PendingReason = ""                                      // pending_reason = ''
	j.JobRetries += jr                                        // job_retries = job_retries + ?6
	j.FleetRetries += fr                                      // fleet_retries = fleet_retries + ?7
	if o.JobRetry {                                           // queue_rank = CASE WHEN ?6 THEN ?4 ...
		j.QueueRank = queued
	}
	// avoid_workers = CASE WHEN ?2 = 'executor_error' AND worker_id != '' AND not listed ...
	if o.Reason == drover.ReasonExecutorError && j.WorkerID != "" && !slices.Contains(j.AvoidWorkers, j.WorkerID) {
		j.AvoidWorkers = append(slices.Clip(j.AvoidWorkers), j.WorkerID)
	}
	return nil
}

// qFinishJob ends a job with its attempt. A start reported with the end is
// the job's start, unless an earlier attempt of this run already set one.
// ?8 holds that start, or NULL.
var qFinishJob = writeQuery(`UPDATE jobs SET state = ?1, exit_code = coalesce(?2, exit_code),
	reason = ?3, message = ?4, completed_at = ?5, not_before = NULL,
	job_retries = job_retries + ?6, fleet_retries = fleet_retries + ?7, started_at = coalesce(started_at, ?8)
	WHERE id = ?9`)

// finishJob runs qFinishJob on j's row, then changes j as it changed the
// row, line by line. started is the start reported with the end, if any.
// Values go through what the row holds, as a read would.
func finishJob(x *session, j *drover.Job, o store.JobOutcome, at int64, started *time.Time) error {
	jr, fr := boolInt(o.JobRetry), boolInt(o.FleetRetry)
	if _, err := x.exec(qFinishJob, string(o.State), nullInt(o.ExitCode), string(o.Reason), o.Message, at,
		jr, fr, nullUnixNano(started), j.ID); err != nil {
		return err
	}
	j.State = o.State      // state = ?1
	if o.ExitCode != nil { // exit_code = coalesce(?2, exit_code)
		j.ExitCode = fromNullInt(nullInt(o.ExitCode))
	}
	j.Reason, j.Message = o.Reason, o.Message // reason = ?3, message = ?4
	completed := fromUnixNano(at)
	j.CompletedAt = &completed // completed_at = ?5
	j.NotBefore = nil          // not_before = NULL
	j.JobRetries += jr         // job_retries = job_retries + ?6
	j.FleetRetries += fr       // fleet_retries = fleet_retries + ?7
	if j.StartedAt == nil {    // started_at = coalesce(started_at, ?8)
		j.StartedAt = fromNullUnixNano(nullUnixNano(started))
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
