package storetest

import (
	"fmt"
	"slices"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/store"
)

func testCancelQueued(f *fixture) {
	t := f.t
	j := f.createJob(base)
	now := at(5 * time.Second)
	got, err := f.s.CancelJob(f.ctx, j.ID, now)
	if err != nil {
		t.Fatalf("CancelJob: %v", err)
	}
	for _, j := range []*drover.Job{got, f.job(j.ID)} {
		if j.State != drover.JobCancelled || j.Reason != drover.ReasonCancelled {
			t.Errorf("cancelled queued job = %s (%s), want CANCELLED (cancelled)", j.State, j.Reason)
		}
		wantTime(t, "CompletedAt", j.CompletedAt, now)
	}
	if js, _ := f.s.QueuedJobs(f.ctx, 0); len(js) != 0 {
		t.Errorf("QueuedJobs after cancel = %v, want none", jobIDs(js))
	}
}

// testCancelInRetryBackoff cancels a job waiting out its retry backoff.
// The job ends cancelled. Nothing of the failed attempt's end is left on
// it, neither its exit code nor "retry 1 of 3".
func testCancelInRetryBackoff(f *fixture) {
	t := f.t
	w := f.createWorker("w")
	j, a := f.running(w.ID)
	code := 1
	nb := at(time.Minute)
	f.end(a.ID, store.AttemptEnd{At: at(2 * time.Second), State: drover.AttemptFailed, ExitCode: &code, Reason: drover.ReasonExitCode},
		store.JobOutcome{State: drover.JobQueued, ExitCode: &code, Reason: drover.ReasonExitCode, Message: "attempt 1: exited with code 1; retry 1 of 3",
			NotBefore: &nb, JobRetry: true})
	got, err := f.s.CancelJob(f.ctx, j.ID, at(3*time.Second))
	if err != nil {
		t.Fatalf("CancelJob: %v", err)
	}
	for _, g := range []*drover.Job{got, f.job(j.ID)} {
		if g.State != drover.JobCancelled || g.Reason != drover.ReasonCancelled || g.Message != "cancelled" || g.ExitCode != nil || g.NotBefore != nil {
			t.Errorf("cancelled in backoff: %s (%s) %q exit %v notBefore %v; want CANCELLED (cancelled) \"cancelled\", no exit code, no notBefore",
				g.State, g.Reason, g.Message, g.ExitCode, g.NotBefore)
		}
	}
}

func testCancelUnacknowledged(f *fixture) {
	t := f.t
	w := f.createWorker("w")
	j := f.createJob(base)
	a := f.assign(at(time.Second), j.ID, w.ID)
	// Not yet delivered: the worker has never seen it.
	now := at(3 * time.Second)
	got, err := f.s.CancelJob(f.ctx, j.ID, now)
	if err != nil {
		t.Fatalf("CancelJob: %v", err)
	}
	if got.State != drover.JobCancelled {
		t.Errorf("job = %s, want CANCELLED at once", got.State)
	}
	wantTime(t, "job CompletedAt", got.CompletedAt, now)
	if len(got.Attempts) != 1 {
		t.Fatalf("job has %d attempts, want 1", len(got.Attempts))
	}
	for _, ga := range []*drover.Attempt{&got.Attempts[0], f.attempt(a.ID)} {
		if ga.State != drover.AttemptCancelled {
			t.Errorf("attempt = %s, want CANCELLED", ga.State)
		}
		wantTime(t, "attempt FinishedAt", ga.FinishedAt, now)
	}
	if gw := f.worker(w.ID); gw.Allocated != (drover.Allocated{}) || len(gw.Running) != 0 {
		t.Errorf("worker after cancel: Allocated %+v Running %v, want nothing", gw.Allocated, gw.Running)
	}
	// Too late for the worker now.
	_, err = f.s.StartAttempt(f.ctx, a.ID, at(4*time.Second), 0, 0)
	wantCode(t, "StartAttempt of a cancelled attempt", err, drover.ECONFLICT)
}

// testCancelDelivered checks that an assignment delivered but not yet
// acknowledged is stopped, not forgotten. It may already run, as a process
// job acknowledges with its start report.
func testCancelDelivered(f *fixture) {
	t := f.t
	w := f.createWorker("w")
	j := f.createJob(base)
	a := f.assign(at(time.Second), j.ID, w.ID)
	if _, _, err := f.s.Deliver(f.ctx, w.ID, at(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	got, err := f.s.CancelJob(f.ctx, j.ID, at(3*time.Second))
	if err != nil {
		t.Fatalf("CancelJob: %v", err)
	}
	if got.State != drover.JobAssigned || got.CancelRequestedAt == nil {
		t.Errorf("job = %s (cancel requested %v), want ASSIGNED and cancelling", got.State, got.CancelRequestedAt)
	}
	if ga := f.attempt(a.ID); ga.State.Final() || !ga.StopRequested {
		t.Errorf("attempt = %s stop %v, want active with a stop request", ga.State, ga.StopRequested)
	}
	stops, err := f.s.StopRequested(f.ctx, w.ID)
	if err != nil || len(stops) != 1 || stops[0] != a.ID {
		t.Errorf("StopRequested = %v, %v", stops, err)
	}
}

func testCancelAcknowledged(f *fixture) {
	for _, started := range []bool{false, true} {
		t := f.t
		w := f.createWorker(fmt.Sprintf("w-started-%v", started))
		j := f.createJob(base)
		a := f.assign(at(time.Second), j.ID, w.ID)
		wantState := drover.JobAssigned
		if started {
			if _, err := f.s.StartAttempt(f.ctx, a.ID, at(2*time.Second), 0, 0); err != nil {
				t.Fatal(err)
			}
			wantState = drover.JobRunning
		} else {
			if _, err := f.s.AcceptAttempt(f.ctx, a.ID, at(2*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := f.s.Deliver(f.ctx, w.ID, at(2*time.Second)); err != nil {
			t.Fatal(err)
		}

		now := at(3 * time.Second)
		got, err := f.s.CancelJob(f.ctx, j.ID, now)
		if err != nil {
			t.Fatalf("CancelJob: %v", err)
		}
		if got.State != wantState {
			t.Errorf("started=%v: job = %s, want it to stay %s until the attempt ends", started, got.State, wantState)
		}
		wantTime(t, "CancelRequestedAt", got.CancelRequestedAt, now)
		wantNoTime(t, "CompletedAt", got.CompletedAt)
		ga := f.attempt(a.ID)
		if !ga.StopRequested || ga.State.Final() {
			t.Errorf("started=%v: attempt = %s StopRequested=%v, want active with StopRequested", started, ga.State, ga.StopRequested)
		}
		if ids, err := f.s.StopRequested(f.ctx, w.ID); err != nil || !slices.Equal(ids, []string{a.ID}) {
			t.Errorf("StopRequested = %v, %v; want [%s]", ids, err, a.ID)
		}
		if _, stops, err := f.s.Deliver(f.ctx, w.ID, at(4*time.Second)); err != nil || !slices.Equal(stops, []string{a.ID}) {
			t.Errorf("Deliver stops = %v, %v; want [%s]", stops, err, a.ID)
		}

		// Cancelling again changes nothing.
		again, err := f.s.CancelJob(f.ctx, j.ID, at(time.Minute))
		if err != nil {
			t.Fatalf("second CancelJob: %v", err)
		}
		if again.State != wantState {
			t.Errorf("second cancel: job = %s, want %s", again.State, wantState)
		}
		wantTime(t, "CancelRequestedAt after a second cancel", again.CancelRequestedAt, now)
		if _, stops, _ := f.s.Deliver(f.ctx, w.ID, at(time.Minute)); len(stops) != 0 {
			t.Errorf("second cancel delivered the stop again: %v", stops)
		}

		// The worker stops it; the job ends CANCELLED.
		end := at(2 * time.Minute)
		final := f.end(a.ID, store.AttemptEnd{At: end, State: drover.AttemptCancelled, Reason: drover.ReasonCancelled},
			store.JobOutcome{State: drover.JobCancelled, Reason: drover.ReasonCancelled})
		if final.State != drover.JobCancelled {
			t.Errorf("after the attempt ends: job = %s, want CANCELLED", final.State)
		}
		wantTime(t, "CompletedAt", final.CompletedAt, end)
		if ids, _ := f.s.StopRequested(f.ctx, w.ID); len(ids) != 0 {
			t.Errorf("StopRequested after the attempt ended = %v, want none", ids)
		}
	}
}

func testCancelErrors(f *fixture) {
	t := f.t
	_, err := f.s.CancelJob(f.ctx, "job_doesnotexist", base)
	wantCode(t, "CancelJob of an unknown job", err, drover.ENOTFOUND)

	w := f.createWorker("w")
	j, a := f.running(w.ID)
	f.end(a.ID, store.AttemptEnd{At: at(time.Minute), State: drover.AttemptCompleted, ExitCode: intp(0)},
		store.JobOutcome{State: drover.JobCompleted, ExitCode: intp(0)})
	_, err = f.s.CancelJob(f.ctx, j.ID, at(2*time.Minute))
	wantCode(t, "CancelJob of a completed job", err, drover.ECONFLICT)

	c := f.createJob(base)
	if _, err := f.s.CancelJob(f.ctx, c.ID, at(time.Second)); err != nil {
		t.Fatal(err)
	}
	_, err = f.s.CancelJob(f.ctx, c.ID, at(2*time.Second))
	wantCode(t, "CancelJob of a cancelled job", err, drover.ECONFLICT)
	if got := f.job(c.ID); !got.CompletedAt.Equal(at(time.Second)) {
		t.Errorf("a refused cancel changed CompletedAt to %s", got.CompletedAt)
	}
}

// testCancelJobs cancels several jobs in one call, each with its own
// result. An unknown or final job does not stop the others.
func testCancelJobs(f *fixture) {
	t := f.t
	w := f.createWorker("w")
	running, _ := f.running(w.ID)
	done, a := f.running(w.ID)
	f.end(a.ID, store.AttemptEnd{At: at(time.Minute), State: drover.AttemptCompleted, ExitCode: intp(0)},
		store.JobOutcome{State: drover.JobCompleted, ExitCode: intp(0)})
	queued := f.createJob(base)
	rs, err := f.s.CancelJobs(f.ctx, []string{queued.ID, "job_doesnotexist", running.ID, done.ID}, at(2*time.Minute))
	if err != nil || len(rs) != 4 {
		t.Fatalf("CancelJobs = %d results, %v", len(rs), err)
	}
	if rs[0].Err != nil || rs[0].Job == nil || rs[0].Job.State != drover.JobCancelled {
		t.Errorf("queued job: %+v", rs[0])
	}
	wantCode(t, "CancelJobs of an unknown job", rs[1].Err, drover.ENOTFOUND)
	if rs[2].Err != nil || rs[2].Job == nil || rs[2].Job.State != drover.JobRunning || rs[2].Job.CancelRequestedAt == nil {
		t.Errorf("running job: %+v", rs[2])
	}
	wantCode(t, "CancelJobs of a completed job", rs[3].Err, drover.ECONFLICT)
	if got := f.job(queued.ID); got.State != drover.JobCancelled {
		t.Errorf("queued job after CancelJobs: %s", got.State)
	}
}
