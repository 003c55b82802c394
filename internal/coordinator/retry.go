package coordinator

import (
	"fmt"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/store"
)

// decide is the job's transition when attempt a ends. It is a pure
// function of the job, the ended attempt, the fleet retry cap and the
// time. The first rule that applies decides:
//
//   - An attempt that completed on its own makes the job COMPLETED, even
//     after a cancel was asked.
//   - A cancel request, or an attempt the worker stopped for one, makes
//     the job CANCELLED.
//   - A fleet failure requeues the job at once, while fewer than fleetCap
//     such requeues happened. worker_lost, executor_error and
//     not_acknowledged are fleet failures.
//   - A job failure requeues the job after a backoff, while its retries
//     stay under spec.maxRetries and spec.retryOn allows it. exit_code,
//     timeout, oom_killed and workspace_limit are job failures.
//   - Otherwise the job is FAILED with the attempt's reason.
func decide(j *drover.Job, a *drover.Attempt, fleetCap int, now time.Time) store.JobOutcome {
	// An attempt that completed on its own ran to the end, even when a
	// cancel was asked meanwhile. It exited 0 and the worker did not stop
	// it. The cancel came too late, and the job says how it really ended.
	if a.State == drover.AttemptCompleted {
		return store.JobOutcome{State: drover.JobCompleted, ExitCode: a.ExitCode}
	}
	if j.CancelRequestedAt != nil || a.Reason == drover.ReasonCancelled {
		return store.JobOutcome{State: drover.JobCancelled, ExitCode: a.ExitCode, Reason: drover.ReasonCancelled, Message: "cancelled"}
	}
	r := a.Reason
	if r == "" {
		// The attempt failed without a reason. The worker could not say
		// why, which is the fleet's fault, not the job's.
		r = drover.ReasonExecutorError
	}
	msg := a.Message
	switch {
	case r.FleetFailure():
		if j.FleetRetries < fleetCap {
			return store.JobOutcome{
				State:      drover.JobQueued,
				Reason:     r,
				Message:    fmt.Sprintf("attempt %d: %s; requeued", a.N, describe(r, msg)),
				FleetRetry: true,
			}
		}
		return store.JobOutcome{State: drover.JobFailed, ExitCode: a.ExitCode, Reason: r,
			Message: fmt.Sprintf("%s; gave up after %d requeues caused by the fleet", describe(r, msg), j.FleetRetries)}
	case r.JobFailure():
		if j.Spec.RetriesOn(r) && j.JobRetries < j.Spec.MaxRetries {
			nb := now.Add(drover.RetryBackoff(j.JobRetries + 1))
			return store.JobOutcome{
				State:     drover.JobQueued,
				ExitCode:  a.ExitCode,
				Reason:    r,
				Message:   fmt.Sprintf("attempt %d: %s; retry %d of %d", a.N, describe(r, msg), j.JobRetries+1, j.Spec.MaxRetries),
				NotBefore: &nb,
				JobRetry:  true,
			}
		}
		return store.JobOutcome{State: drover.JobFailed, ExitCode: a.ExitCode, Reason: r, Message: describe(r, msg)}
	}
	return store.JobOutcome{State: drover.JobFailed, ExitCode: a.ExitCode, Reason: r, Message: describe(r, msg)}
}

// requeueUncounted is decide for an attempt that never started because its
// worker left. The job goes back to the queue with its fleet retries
// untouched, unless a cancel was asked for.
func requeueUncounted(j *drover.Job, a *drover.Attempt, fleetCap int, now time.Time) store.JobOutcome {
	if j.CancelRequestedAt != nil || a.Reason == drover.ReasonCancelled {
		return decide(j, a, fleetCap, now)
	}
	return store.JobOutcome{State: drover.JobQueued, Reason: a.Reason,
		Message: fmt.Sprintf("attempt %d: %s; requeued", a.N, describe(a.Reason, a.Message))}
}

// handedBack is the policy for an attempt its worker hands back unstarted,
// as not_acknowledged. It is requeueUncounted if the store agrees that the
// attempt was never acknowledged nor started, and decide otherwise.
func handedBack(j *drover.Job, a *drover.Attempt, fleetCap int, now time.Time) store.JobOutcome {
	if a.AcceptedAt != nil || a.StartedAt != nil {
		return decide(j, a, fleetCap, now)
	}
	return requeueUncounted(j, a, fleetCap, now)
}

func describe(r drover.Reason, msg string) string {
	if msg != "" {
		return msg
	}
	switch r {
	case drover.ReasonWorkerLost:
		return "the worker stopped heartbeating"
	case drover.ReasonNotAcknowledged:
		return "the worker never acknowledged the assignment"
	case drover.ReasonTimeout:
		return "timed out"
	case drover.ReasonOOMKilled:
		return "killed for exceeding its memory limit"
	case drover.ReasonWorkspaceLimit:
		return "killed for writing past its worker's workspace limit"
	case drover.ReasonExitCode:
		return "exited non-zero"
	case drover.ReasonExecutorError:
		return "the worker could not run it"
	}
	return string(r)
}
