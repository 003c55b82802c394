package storetest

import (
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/store"
)

// testEndIf: the precondition of AttemptEnd.If is checked in the write, so
// an attempt that moved on since the caller looked is left alone.
func testEndIf(f *fixture) {
	t := f.t
	w := f.createWorker("w")
	requeue := store.JobOutcome{State: drover.JobQueued, FleetRetry: true}

	// Started since the reaper read it as unacknowledged: not ended.
	j, a := f.running(w.ID)
	_, err := f.s.EndAttempt(f.ctx, a.ID, store.AttemptEnd{If: drover.AttemptAssigned, At: at(time.Minute),
		State: drover.AttemptFailed, Reason: drover.ReasonNotAcknowledged},
		func(*drover.Job, *drover.Attempt) store.JobOutcome { return requeue })
	wantCode(t, "EndAttempt if ASSIGNED of a RUNNING attempt", err, drover.ECONFLICT)
	if got := f.job(j.ID); got.State != drover.JobRunning {
		t.Errorf("job = %s, want RUNNING untouched", got.State)
	}

	// Accepted but not started: acknowledged, so not "ASSIGNED" any more.
	j2 := f.createJob(base)
	a2 := f.assign(at(time.Second), j2.ID, w.ID)
	if _, err := f.s.AcceptAttempt(f.ctx, a2.ID, at(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	_, err = f.s.EndAttempt(f.ctx, a2.ID, store.AttemptEnd{If: drover.AttemptAssigned, At: at(time.Minute),
		State: drover.AttemptFailed, Reason: drover.ReasonNotAcknowledged},
		func(*drover.Job, *drover.Attempt) store.JobOutcome { return requeue })
	wantCode(t, "EndAttempt if ASSIGNED of an accepted attempt", err, drover.ECONFLICT)

	// The precondition holds: ended as asked.
	got, err := f.s.EndAttempt(f.ctx, a.ID, store.AttemptEnd{If: drover.AttemptRunning, At: at(time.Minute),
		State: drover.AttemptFailed, Reason: drover.ReasonTimeout},
		func(*drover.Job, *drover.Attempt) store.JobOutcome {
			return store.JobOutcome{State: drover.JobFailed, Reason: drover.ReasonTimeout}
		})
	if err != nil || got.State != drover.JobFailed {
		t.Fatalf("EndAttempt if RUNNING: %v, %v", got, err)
	}
}
