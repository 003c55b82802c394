package coordinator

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/store"
)

func TestDecide(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	code := func(c int) *int { return &c }
	type want struct {
		state      drover.JobState
		reason     drover.Reason
		exit       *int
		message    string
		backoff    time.Duration // NotBefore - now; 0 means no NotBefore
		jobRetry   bool
		fleetRetry bool
	}
	tests := []struct {
		name     string
		job      drover.Job
		att      drover.Attempt
		fleetCap int
		want     want
	}{
		// Cancellation.
		// Completed on its own before the stop reached it: it ran to the
		// end, and says so (a CANCELLED job reads as one that did not).
		{name: "exit 0 before the cancel reached it",
			job: drover.Job{CancelRequestedAt: &now},
			att: drover.Attempt{N: 1, State: drover.AttemptCompleted, ExitCode: code(0)}, fleetCap: 5,
			want: want{state: drover.JobCompleted, exit: code(0)}},
		{name: "cancel requested wins over a retryable failure",
			job: drover.Job{CancelRequestedAt: &now, Spec: drover.JobSpec{MaxRetries: 3}},
			att: drover.Attempt{N: 1, State: drover.AttemptFailed, ExitCode: code(143), Reason: drover.ReasonExitCode}, fleetCap: 5,
			want: want{state: drover.JobCancelled, reason: drover.ReasonCancelled, exit: code(143), message: "cancelled"}},
		{name: "cancel requested wins over a fleet failure",
			job: drover.Job{CancelRequestedAt: &now},
			att: drover.Attempt{N: 1, State: drover.AttemptFailed, Reason: drover.ReasonWorkerLost}, fleetCap: 5,
			want: want{state: drover.JobCancelled, reason: drover.ReasonCancelled, message: "cancelled"}},
		{name: "attempt cancelled without a request",
			job: drover.Job{Spec: drover.JobSpec{MaxRetries: 3}},
			att: drover.Attempt{N: 2, State: drover.AttemptCancelled, ExitCode: code(137), Reason: drover.ReasonCancelled}, fleetCap: 5,
			want: want{state: drover.JobCancelled, reason: drover.ReasonCancelled, exit: code(137), message: "cancelled"}},

		// Success.
		{name: "completed",
			att: drover.Attempt{N: 1, State: drover.AttemptCompleted, ExitCode: code(0)}, fleetCap: 5,
			want: want{state: drover.JobCompleted, exit: code(0)}},
		{name: "completed after retries",
			job: drover.Job{JobRetries: 2, FleetRetries: 1, Spec: drover.JobSpec{MaxRetries: 5}},
			att: drover.Attempt{N: 4, State: drover.AttemptCompleted, ExitCode: code(0)}, fleetCap: 5,
			want: want{state: drover.JobCompleted, exit: code(0)}},

		// Failures of the fleet: requeued at once, up to the cap, whatever maxRetries says.
		{name: "worker lost requeues without backoff",
			att: drover.Attempt{N: 1, State: drover.AttemptFailed, Reason: drover.ReasonWorkerLost}, fleetCap: 5,
			want: want{state: drover.JobQueued, reason: drover.ReasonWorkerLost, fleetRetry: true,
				message: "attempt 1: the worker stopped heartbeating; requeued"}},
		{name: "not acknowledged requeues",
			job: drover.Job{FleetRetries: 2},
			att: drover.Attempt{N: 3, State: drover.AttemptFailed, Reason: drover.ReasonNotAcknowledged}, fleetCap: 5,
			want: want{state: drover.JobQueued, reason: drover.ReasonNotAcknowledged, fleetRetry: true,
				message: "attempt 3: the worker never acknowledged the assignment; requeued"}},
		{name: "executor error keeps the worker's message",
			job: drover.Job{FleetRetries: 4, JobRetries: 1, Spec: drover.JobSpec{MaxRetries: 1}},
			att: drover.Attempt{N: 6, State: drover.AttemptFailed, Reason: drover.ReasonExecutorError, Message: "pull alpine:3: not found"}, fleetCap: 5,
			want: want{state: drover.JobQueued, reason: drover.ReasonExecutorError, fleetRetry: true,
				message: "attempt 6: pull alpine:3: not found; requeued"}},
		{name: "fleet cap reached fails",
			job: drover.Job{FleetRetries: 5},
			att: drover.Attempt{N: 6, State: drover.AttemptFailed, Reason: drover.ReasonWorkerLost}, fleetCap: 5,
			want: want{state: drover.JobFailed, reason: drover.ReasonWorkerLost,
				message: "the worker stopped heartbeating; gave up after 5 requeues caused by the fleet"}},
		{name: "fleet cap reached keeps an exit code",
			job: drover.Job{FleetRetries: 1},
			att: drover.Attempt{N: 2, State: drover.AttemptFailed, Reason: drover.ReasonExecutorError, ExitCode: code(125)}, fleetCap: 1,
			want: want{state: drover.JobFailed, reason: drover.ReasonExecutorError, exit: code(125),
				message: "the worker could not run it; gave up after 1 requeues caused by the fleet"}},
		{name: "fleet cap zero fails at once",
			att: drover.Attempt{N: 1, State: drover.AttemptFailed, Reason: drover.ReasonNotAcknowledged}, fleetCap: 0,
			want: want{state: drover.JobFailed, reason: drover.ReasonNotAcknowledged,
				message: "the worker never acknowledged the assignment; gave up after 0 requeues caused by the fleet"}},

		// Failures of the job: retried with backoff within maxRetries and retryOn.
		{name: "exit code without retries fails",
			att: drover.Attempt{N: 1, State: drover.AttemptFailed, ExitCode: code(1), Reason: drover.ReasonExitCode, Message: "exited with code 1"}, fleetCap: 5,
			want: want{state: drover.JobFailed, reason: drover.ReasonExitCode, exit: code(1), message: "exited with code 1"}},
		{name: "exit code without a message",
			att: drover.Attempt{N: 1, State: drover.AttemptFailed, ExitCode: code(2), Reason: drover.ReasonExitCode}, fleetCap: 5,
			want: want{state: drover.JobFailed, reason: drover.ReasonExitCode, exit: code(2), message: "exited non-zero"}},
		{name: "first retry after 1s",
			job: drover.Job{Spec: drover.JobSpec{MaxRetries: 3}},
			att: drover.Attempt{N: 1, State: drover.AttemptFailed, ExitCode: code(1), Reason: drover.ReasonExitCode, Message: "exited with code 1"}, fleetCap: 5,
			want: want{state: drover.JobQueued, reason: drover.ReasonExitCode, exit: code(1), backoff: time.Second, jobRetry: true,
				message: "attempt 1: exited with code 1; retry 1 of 3"}},
		{name: "second retry after 2s",
			job: drover.Job{JobRetries: 1, Spec: drover.JobSpec{MaxRetries: 3}},
			att: drover.Attempt{N: 2, State: drover.AttemptFailed, ExitCode: code(1), Reason: drover.ReasonExitCode}, fleetCap: 5,
			want: want{state: drover.JobQueued, reason: drover.ReasonExitCode, exit: code(1), backoff: 2 * time.Second, jobRetry: true,
				message: "attempt 2: exited non-zero; retry 2 of 3"}},
		{name: "third retry after 4s",
			job: drover.Job{JobRetries: 2, Spec: drover.JobSpec{MaxRetries: 3}},
			att: drover.Attempt{N: 3, State: drover.AttemptFailed, ExitCode: code(1), Reason: drover.ReasonExitCode}, fleetCap: 5,
			want: want{state: drover.JobQueued, reason: drover.ReasonExitCode, exit: code(1), backoff: 4 * time.Second, jobRetry: true,
				message: "attempt 3: exited non-zero; retry 3 of 3"}},
		{name: "retries used up fails",
			job: drover.Job{JobRetries: 3, Spec: drover.JobSpec{MaxRetries: 3}},
			att: drover.Attempt{N: 4, State: drover.AttemptFailed, ExitCode: code(1), Reason: drover.ReasonExitCode}, fleetCap: 5,
			want: want{state: drover.JobFailed, reason: drover.ReasonExitCode, exit: code(1), message: "exited non-zero"}},
		{name: "backoff capped at a minute",
			job: drover.Job{JobRetries: 9, Spec: drover.JobSpec{MaxRetries: 20}},
			att: drover.Attempt{N: 10, State: drover.AttemptFailed, ExitCode: code(1), Reason: drover.ReasonExitCode}, fleetCap: 5,
			want: want{state: drover.JobQueued, reason: drover.ReasonExitCode, exit: code(1), backoff: time.Minute, jobRetry: true,
				message: "attempt 10: exited non-zero; retry 10 of 20"}},
		{name: "fleet requeues do not use the job's budget",
			job: drover.Job{FleetRetries: 4, Spec: drover.JobSpec{MaxRetries: 1}},
			att: drover.Attempt{N: 5, State: drover.AttemptFailed, ExitCode: code(1), Reason: drover.ReasonExitCode}, fleetCap: 5,
			want: want{state: drover.JobQueued, reason: drover.ReasonExitCode, exit: code(1), backoff: time.Second, jobRetry: true,
				message: "attempt 5: exited non-zero; retry 1 of 1"}},

		// Timeout and OOM: the reason and the exit code both survive.
		{name: "timeout retried by default",
			job: drover.Job{Spec: drover.JobSpec{MaxRetries: 1}},
			att: drover.Attempt{N: 1, State: drover.AttemptFailed, ExitCode: code(143), Reason: drover.ReasonTimeout}, fleetCap: 5,
			want: want{state: drover.JobQueued, reason: drover.ReasonTimeout, exit: code(143), backoff: time.Second, jobRetry: true,
				message: "attempt 1: timed out; retry 1 of 1"}},
		{name: "timeout not in retryOn fails",
			job: drover.Job{Spec: drover.JobSpec{MaxRetries: 3, RetryOn: []drover.Reason{drover.ReasonExitCode}}},
			att: drover.Attempt{N: 1, State: drover.AttemptFailed, ExitCode: code(143), Reason: drover.ReasonTimeout}, fleetCap: 5,
			want: want{state: drover.JobFailed, reason: drover.ReasonTimeout, exit: code(143), message: "timed out"}},
		{name: "timeout by the coordinator keeps its message",
			att: drover.Attempt{N: 1, State: drover.AttemptFailed, Reason: drover.ReasonTimeout,
				Message: "timed out (the worker did not stop it; the coordinator did)"}, fleetCap: 5,
			want: want{state: drover.JobFailed, reason: drover.ReasonTimeout,
				message: "timed out (the worker did not stop it; the coordinator did)"}},
		{name: "oom in retryOn retries",
			job: drover.Job{Spec: drover.JobSpec{MaxRetries: 2, RetryOn: []drover.Reason{drover.ReasonOOMKilled}}},
			att: drover.Attempt{N: 1, State: drover.AttemptFailed, ExitCode: code(137), Reason: drover.ReasonOOMKilled}, fleetCap: 5,
			want: want{state: drover.JobQueued, reason: drover.ReasonOOMKilled, exit: code(137), backoff: time.Second, jobRetry: true,
				message: "attempt 1: killed for exceeding its memory limit; retry 1 of 2"}},
		{name: "workspace limit retried with retries",
			job: drover.Job{Spec: drover.JobSpec{MaxRetries: 1}},
			att: drover.Attempt{N: 1, State: drover.AttemptFailed, ExitCode: code(137), Reason: drover.ReasonWorkspaceLimit,
				Message: "wrote more than 10 MiB to its workspace (the worker's --workspace-limit)"}, fleetCap: 5,
			want: want{state: drover.JobQueued, reason: drover.ReasonWorkspaceLimit, exit: code(137), backoff: time.Second, jobRetry: true,
				message: "attempt 1: wrote more than 10 MiB to its workspace (the worker's --workspace-limit); retry 1 of 1"}},
		{name: "workspace limit not in retryOn fails",
			job: drover.Job{Spec: drover.JobSpec{MaxRetries: 2, RetryOn: []drover.Reason{drover.ReasonExitCode}}},
			att: drover.Attempt{N: 1, State: drover.AttemptFailed, ExitCode: code(137), Reason: drover.ReasonWorkspaceLimit}, fleetCap: 5,
			want: want{state: drover.JobFailed, reason: drover.ReasonWorkspaceLimit, exit: code(137), message: "killed for writing past its worker's workspace limit"}},
		{name: "workspace limit without retries fails",
			att: drover.Attempt{N: 1, State: drover.AttemptFailed, ExitCode: code(153), Reason: drover.ReasonWorkspaceLimit}, fleetCap: 5,
			want: want{state: drover.JobFailed, reason: drover.ReasonWorkspaceLimit, exit: code(153), message: "killed for writing past its worker's workspace limit"}},
		{name: "exit code not in retryOn fails",
			job: drover.Job{Spec: drover.JobSpec{MaxRetries: 2, RetryOn: []drover.Reason{drover.ReasonOOMKilled}}},
			att: drover.Attempt{N: 1, State: drover.AttemptFailed, ExitCode: code(3), Reason: drover.ReasonExitCode}, fleetCap: 5,
			want: want{state: drover.JobFailed, reason: drover.ReasonExitCode, exit: code(3), message: "exited non-zero"}},
		{name: "oom without retries fails",
			att: drover.Attempt{N: 1, State: drover.AttemptFailed, ExitCode: code(137), Reason: drover.ReasonOOMKilled}, fleetCap: 5,
			want: want{state: drover.JobFailed, reason: drover.ReasonOOMKilled, exit: code(137), message: "killed for exceeding its memory limit"}},

		// Anything else fails at once.
		{name: "failure without a reason is the fleet's: requeued as executor_error",
			att: drover.Attempt{N: 1, State: drover.AttemptFailed}, fleetCap: 5,
			want: want{state: drover.JobQueued, reason: drover.ReasonExecutorError, message: "attempt 1: the worker could not run it; requeued", fleetRetry: true}},
		{name: "other reason fails with its name",
			job: drover.Job{Spec: drover.JobSpec{MaxRetries: 3}},
			att: drover.Attempt{N: 1, State: drover.AttemptFailed, Reason: drover.ReasonUnschedulable}, fleetCap: 5,
			want: want{state: drover.JobFailed, reason: drover.ReasonUnschedulable, message: "unschedulable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, a := tt.job, tt.att
			got := decide(&j, &a, tt.fleetCap, now)

			w := tt.want
			exp := store.JobOutcome{State: w.state, Reason: w.reason, ExitCode: w.exit, Message: w.message,
				JobRetry: w.jobRetry, FleetRetry: w.fleetRetry}
			if w.backoff != 0 {
				nb := now.Add(w.backoff)
				exp.NotBefore = &nb
			}
			if !reflect.DeepEqual(got, exp) {
				t.Errorf("decide =\n  %s\nwant\n  %s", outcomeString(got), outcomeString(exp))
			}
			// A requeue charges exactly one budget; only job retries wait.
			if got.State == drover.JobQueued && got.JobRetry == got.FleetRetry {
				t.Errorf("requeue charges JobRetry=%v FleetRetry=%v", got.JobRetry, got.FleetRetry)
			}
			if got.NotBefore != nil && !got.JobRetry {
				t.Errorf("NotBefore set on an outcome that is not a job retry")
			}
			if !reflect.DeepEqual(j, tt.job) || !reflect.DeepEqual(a, tt.att) {
				t.Errorf("decide changed its inputs")
			}
		})
	}
}

func outcomeString(o store.JobOutcome) string {
	exit, nb := "nil", "nil"
	if o.ExitCode != nil {
		exit = fmt.Sprint(*o.ExitCode)
	}
	if o.NotBefore != nil {
		nb = o.NotBefore.Format(time.RFC3339)
	}
	return fmt.Sprintf("%s reason=%q exit=%s notBefore=%s jobRetry=%v fleetRetry=%v message=%q",
		o.State, o.Reason, exit, nb, o.JobRetry, o.FleetRetry, o.Message)
}
