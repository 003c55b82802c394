package storetest

import (
	"slices"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/store"
)

func testEndCompleted(f *fixture) {
	t := f.t
	w := f.createWorker("w")
	j := f.createJob(base)
	a := f.assign(at(time.Second), j.ID, w.ID) // queued for 1s
	if _, err := f.s.StartAttempt(f.ctx, a.ID, at(3*time.Second), 500*time.Millisecond, 700*time.Millisecond); err != nil {
		t.Fatal(err)
	}

	endAt := at(10*time.Second + 5)
	end := store.AttemptEnd{
		At:       endAt,
		State:    drover.AttemptCompleted,
		ExitCode: intp(0),
		Message:  "done",
		Usage:    drover.Usage{PeakMemoryBytes: 12345678, CPUSeconds: 1.75},
		// The worker's view of the phases; the store keeps Queued and Running its own.
		Phases: drover.Phases{Queued: drover.Duration(time.Hour), Running: drover.Duration(time.Hour)},
	}
	var (
		calls     int
		seenJob   drover.Job
		seenEnded drover.Attempt
	)
	got, err := f.s.EndAttempt(f.ctx, a.ID, end, func(j *drover.Job, ended *drover.Attempt) store.JobOutcome {
		calls++
		seenJob, seenEnded = *j, *ended
		return store.JobOutcome{State: drover.JobCompleted, ExitCode: intp(0), Message: "done"}
	})
	if err != nil {
		t.Fatalf("EndAttempt: %v", err)
	}

	// decide sees the job, with its attempts, and the attempt as ended.
	if calls != 1 {
		t.Fatalf("decide called %d times, want 1", calls)
	}
	if seenJob.ID != j.ID || seenJob.State != drover.JobRunning || len(seenJob.Attempts) != 1 {
		t.Errorf("decide got job %s %s with %d attempts, want %s RUNNING with 1", seenJob.ID, seenJob.State, len(seenJob.Attempts), j.ID)
	}
	if seenEnded.ID != a.ID || seenEnded.State != drover.AttemptCompleted || seenEnded.ExitCode == nil {
		t.Errorf("decide got attempt %+v, want %s COMPLETED with its exit code", seenEnded, a.ID)
	}
	wantTime(t, "decide's attempt FinishedAt", seenEnded.FinishedAt, endAt)

	for _, gj := range []*drover.Job{got, f.job(j.ID)} {
		if gj.State != drover.JobCompleted || gj.Message != "done" {
			t.Errorf("job = %s %q, want COMPLETED \"done\"", gj.State, gj.Message)
		}
		wantInt(t, "job ExitCode", gj.ExitCode, 0)
		wantTime(t, "job CompletedAt", gj.CompletedAt, endAt)
		wantTime(t, "job StartedAt", gj.StartedAt, at(3*time.Second))
		if len(gj.Attempts) != 1 {
			t.Fatalf("job has %d attempts", len(gj.Attempts))
		}
	}
	ga := f.attempt(a.ID)
	if ga.State != drover.AttemptCompleted || ga.Message != "done" || ga.Usage != end.Usage {
		t.Errorf("attempt = %s %q %+v, want COMPLETED \"done\" %+v", ga.State, ga.Message, ga.Usage, end.Usage)
	}
	wantInt(t, "attempt ExitCode", ga.ExitCode, 0)
	wantTime(t, "attempt FinishedAt", ga.FinishedAt, endAt)
	wantPhases := drover.Phases{
		Queued:      drover.Duration(time.Second),
		BundleFetch: drover.Duration(500 * time.Millisecond),
		ImagePull:   drover.Duration(700 * time.Millisecond),
		Running:     drover.Duration(endAt.Sub(at(3 * time.Second))),
	}
	if ga.Phases != wantPhases {
		t.Errorf("attempt phases = %+v, want %+v", ga.Phases, wantPhases)
	}
	if gw := f.worker(w.ID); gw.Allocated != (drover.Allocated{}) || len(gw.Running) != 0 {
		t.Errorf("worker after the attempt ended: Allocated %+v Running %v, want nothing", gw.Allocated, gw.Running)
	}
}

func testEndRetry(f *fixture) {
	t := f.t
	w := f.createWorker("w")
	j, a := f.running(w.ID)

	endAt := at(time.Minute)
	notBefore := endAt.Add(drover.RetryBackoff(1))
	got := f.end(a.ID, store.AttemptEnd{At: endAt, State: drover.AttemptFailed, ExitCode: intp(2), Reason: drover.ReasonExitCode, Message: "exit status 2"},
		store.JobOutcome{State: drover.JobQueued, ExitCode: intp(2), Reason: drover.ReasonExitCode, Message: "exit status 2", NotBefore: &notBefore, JobRetry: true})
	for _, gj := range []*drover.Job{got, f.job(j.ID)} {
		if gj.State != drover.JobQueued || gj.JobRetries != 1 || gj.FleetRetries != 0 {
			t.Errorf("retried job = %s retries %d/%d, want QUEUED 1/0", gj.State, gj.JobRetries, gj.FleetRetries)
		}
		wantTime(t, "QueuedAt", gj.QueuedAt, endAt)
		wantTime(t, "NotBefore", gj.NotBefore, notBefore)
		wantNoTime(t, "AssignedAt", gj.AssignedAt)
		wantNoTime(t, "StartedAt", gj.StartedAt)
		wantNoTime(t, "CompletedAt", gj.CompletedAt)
		if !gj.CreatedAt.Equal(base) {
			t.Errorf("CreatedAt changed to %s", gj.CreatedAt)
		}
	}
	ga := f.attempt(a.ID)
	if ga.State != drover.AttemptFailed || ga.Reason != drover.ReasonExitCode || ga.Message != "exit status 2" {
		t.Errorf("attempt = %s %s %q, want FAILED exit_code", ga.State, ga.Reason, ga.Message)
	}
	wantInt(t, "attempt ExitCode", ga.ExitCode, 2)

	// The second attempt never starts: the worker is lost. A fleet retry.
	a2 := f.assign(notBefore, j.ID, w.ID)
	lostAt := notBefore.Add(time.Minute)
	got = f.end(a2.ID, store.AttemptEnd{At: lostAt, State: drover.AttemptFailed, Reason: drover.ReasonWorkerLost},
		store.JobOutcome{State: drover.JobQueued, Reason: drover.ReasonWorkerLost, FleetRetry: true})
	if got.JobRetries != 1 || got.FleetRetries != 1 {
		t.Errorf("after a fleet retry: retries %d/%d, want 1/1", got.JobRetries, got.FleetRetries)
	}
	wantNoTime(t, "NotBefore of a retry without backoff", got.NotBefore)
	wantTime(t, "QueuedAt", got.QueuedAt, lostAt)
	if p := f.attempt(a2.ID).Phases; p.Running != 0 || p.Queued.D() != notBefore.Sub(endAt) {
		t.Errorf("attempt that never started: phases %+v, want Running 0 and Queued %s (requeue to assignment)", p, notBefore.Sub(endAt))
	}

	// The third attempt fails for good.
	a3 := f.assign(lostAt.Add(time.Second), j.ID, w.ID)
	if a3.N != 3 {
		t.Errorf("third attempt N = %d", a3.N)
	}
	finalAt := lostAt.Add(time.Minute)
	got = f.end(a3.ID, store.AttemptEnd{At: finalAt, State: drover.AttemptFailed, Reason: drover.ReasonOOMKilled, ExitCode: intp(137)},
		store.JobOutcome{State: drover.JobFailed, Reason: drover.ReasonOOMKilled, ExitCode: intp(137), Message: "killed: over its 256M memory limit"})
	if got.State != drover.JobFailed || got.Reason != drover.ReasonOOMKilled || got.Message != "killed: over its 256M memory limit" {
		t.Errorf("failed job = %s %s %q", got.State, got.Reason, got.Message)
	}
	wantInt(t, "failed job ExitCode", got.ExitCode, 137)
	wantTime(t, "CompletedAt", got.CompletedAt, finalAt)
	if len(got.Attempts) != 3 || got.Attempts[0].N != 1 || got.Attempts[2].N != 3 {
		t.Errorf("attempts = %+v, want 3 in order", got.Attempts)
	}
}

func testEndCancelled(f *fixture) {
	t := f.t
	w := f.createWorker("w")
	j, a := f.running(w.ID)
	if _, err := f.s.CancelJob(f.ctx, j.ID, at(time.Minute)); err != nil {
		t.Fatal(err)
	}
	got := f.end(a.ID, store.AttemptEnd{At: at(2 * time.Minute), State: drover.AttemptCancelled, Reason: drover.ReasonCancelled, ExitCode: intp(143)},
		store.JobOutcome{State: drover.JobCancelled, Reason: drover.ReasonCancelled, ExitCode: intp(143)})
	if got.State != drover.JobCancelled || got.Reason != drover.ReasonCancelled {
		t.Errorf("job = %s %s, want CANCELLED cancelled", got.State, got.Reason)
	}
	wantTime(t, "CancelRequestedAt", got.CancelRequestedAt, at(time.Minute))
	wantTime(t, "CompletedAt", got.CompletedAt, at(2*time.Minute))
	if ga := f.attempt(a.ID); ga.State != drover.AttemptCancelled {
		t.Errorf("attempt = %s, want CANCELLED", ga.State)
	}
}

func testEndErrors(f *fixture) {
	t := f.t
	w := f.createWorker("w")
	j, a := f.running(w.ID)
	decided := 0
	decide := func(*drover.Job, *drover.Attempt) store.JobOutcome {
		decided++
		return store.JobOutcome{State: drover.JobCompleted, ExitCode: intp(0)}
	}
	end := store.AttemptEnd{At: at(time.Minute), State: drover.AttemptCompleted, ExitCode: intp(0)}

	_, err := f.s.EndAttempt(f.ctx, "att_doesnotexist", end, decide)
	wantCode(t, "EndAttempt of an unknown attempt", err, drover.ENOTFOUND)
	if _, err := f.s.EndAttempt(f.ctx, a.ID, end, decide); err != nil {
		t.Fatalf("EndAttempt: %v", err)
	}
	late := store.AttemptEnd{At: at(2 * time.Minute), State: drover.AttemptFailed, ExitCode: intp(1), Reason: drover.ReasonExitCode}
	_, err = f.s.EndAttempt(f.ctx, a.ID, late, decide)
	wantCode(t, "EndAttempt of an ended attempt", err, drover.ECONFLICT)
	if decided != 1 {
		t.Errorf("decide called %d times, want once (not for the refused end)", decided)
	}
	if gj := f.job(j.ID); gj.State != drover.JobCompleted || !gj.CompletedAt.Equal(at(time.Minute)) {
		t.Errorf("a refused end changed the job: %s at %v", gj.State, gj.CompletedAt)
	}
	if ga := f.attempt(a.ID); ga.State != drover.AttemptCompleted || !ga.FinishedAt.Equal(at(time.Minute)) {
		t.Errorf("a refused end changed the attempt: %s at %v", ga.State, ga.FinishedAt)
	}
}

// testFencing plays a worker that lost its lease: marked DOWN, its attempt
// ended as worker_lost and the job placed elsewhere. Every late call about
// the old attempt is refused with ECONFLICT and changes nothing.
func testFencing(f *fixture) {
	t := f.t
	lost := f.createWorker("lost")
	other := f.createWorker("other")
	j, old := f.running(lost.ID)

	as, _, err := f.s.MarkWorkerDown(f.ctx, lost.ID, at(time.Minute))
	if err != nil || len(as) != 1 || as[0].ID != old.ID {
		t.Fatalf("MarkWorkerDown = %v, %v; want [%s]", attemptIDs(as), err, old.ID)
	}
	f.end(old.ID, store.AttemptEnd{At: at(time.Minute), State: drover.AttemptFailed, Reason: drover.ReasonWorkerLost},
		store.JobOutcome{State: drover.JobQueued, Reason: drover.ReasonWorkerLost, FleetRetry: true})
	cur := f.assign(at(2*time.Minute), j.ID, other.ID)
	if _, err := f.s.StartAttempt(f.ctx, cur.ID, at(3*time.Minute), 0, 0); err != nil {
		t.Fatal(err)
	}

	// The lost worker comes back and carries on.
	if w, revived, err := f.s.Heartbeat(f.ctx, lost.ID, at(4*time.Minute), drover.WorkerUsage{}); err != nil || w.State != drover.WorkerReady || !revived {
		t.Fatalf("Heartbeat of the returning worker = %v, revived %v, %v", w, revived, err)
	}
	_, err = f.s.AcceptAttempt(f.ctx, old.ID, at(4*time.Minute))
	wantCode(t, "late accept", err, drover.ECONFLICT)
	_, err = f.s.StartAttempt(f.ctx, old.ID, at(4*time.Minute), 0, 0)
	wantCode(t, "late start", err, drover.ECONFLICT)
	_, err = f.s.AppendOutput(f.ctx, old.ID, []drover.OutputChunk{chunk(1, drover.Stdout, "late\n")}, at(4*time.Minute))
	wantCode(t, "late output", err, drover.ECONFLICT)
	_, err = f.s.EndAttempt(f.ctx, old.ID, store.AttemptEnd{At: at(5 * time.Minute), State: drover.AttemptCompleted, ExitCode: intp(0)},
		func(*drover.Job, *drover.Attempt) store.JobOutcome {
			t.Errorf("decide called for a late finish")
			return store.JobOutcome{State: drover.JobCompleted, ExitCode: intp(0)}
		})
	wantCode(t, "late finish", err, drover.ECONFLICT)

	gj := f.job(j.ID)
	if gj.State != drover.JobRunning || gj.WorkerID != other.ID || len(gj.Attempts) != 2 {
		t.Errorf("job after late calls = %s on %s with %d attempts, want RUNNING on %s with 2", gj.State, gj.WorkerID, len(gj.Attempts), other.ID)
	}
	if ga := f.attempt(old.ID); ga.State != drover.AttemptFailed || ga.Reason != drover.ReasonWorkerLost {
		t.Errorf("old attempt = %s %s, want FAILED worker_lost", ga.State, ga.Reason)
	}
	if ga := f.attempt(cur.ID); ga.State != drover.AttemptRunning {
		t.Errorf("current attempt = %s, want RUNNING", ga.State)
	}
	if cs := f.readAll(j.ID); len(cs) != 0 {
		t.Errorf("late output was stored: %s", fmtChunks(cs))
	}
	if gw := f.worker(lost.ID); gw.Allocated != (drover.Allocated{}) {
		t.Errorf("lost worker still holds %+v", gw.Allocated)
	}
}

// A job requeued after executor_error keeps the worker of that attempt in
// AvoidWorkers. Each worker is there once, in order. Other requeues leave
// the list alone. The job EndAttempt returns says the same as a read.
func testEndAvoidWorkers(f *fixture) {
	t := f.t
	w1, w2 := f.createWorker("w1"), f.createWorker("w2")
	j := f.createJob(base)
	requeue := func(worker string, reason drover.Reason, want ...string) {
		t.Helper()
		a := f.assign(at(time.Second), j.ID, worker)
		got := f.end(a.ID, store.AttemptEnd{At: at(2 * time.Second), State: drover.AttemptFailed, Reason: reason},
			store.JobOutcome{State: drover.JobQueued, Reason: reason, FleetRetry: true})
		if !slices.Equal(got.AvoidWorkers, want) {
			t.Errorf("after %s on %s, EndAttempt's job avoids %v, want %v", reason, worker, got.AvoidWorkers, want)
		}
		if read := f.job(j.ID); !slices.Equal(read.AvoidWorkers, want) {
			t.Errorf("after %s on %s, the job read avoids %v, want %v", reason, worker, read.AvoidWorkers, want)
		}
	}
	requeue(w1.ID, drover.ReasonWorkerLost)
	requeue(w1.ID, drover.ReasonExecutorError, w1.ID)
	requeue(w2.ID, drover.ReasonExecutorError, w1.ID, w2.ID)
	requeue(w1.ID, drover.ReasonExecutorError, w1.ID, w2.ID)
	requeue(w2.ID, drover.ReasonNotAcknowledged, w1.ID, w2.ID)
}

// An end with RanUntil has its running phase end there, not at At.
func testEndRanUntil(f *fixture) {
	t := f.t
	w := f.createWorker("w")
	_, a := f.running(w.ID) // started at base+2s
	until := at(5 * time.Second)
	f.end(a.ID, store.AttemptEnd{At: at(20 * time.Second), RanUntil: &until, State: drover.AttemptFailed, Reason: drover.ReasonWorkerLost},
		store.JobOutcome{State: drover.JobFailed, Reason: drover.ReasonWorkerLost})
	if got := f.attempt(a.ID); got.Phases.Running.D() != 3*time.Second || !got.FinishedAt.Equal(at(20*time.Second)) {
		t.Errorf("attempt ran %s and finished at %v; want 3s and base+20s", got.Phases.Running, got.FinishedAt)
	}
}

// testEndNotBeforeStart checks that times never run backwards. A worker's
// clock or memory may date an end before the attempt's start. The end then
// moves to the start. A start reported with the end and dated before the
// assignment moves to the assignment.
func testEndNotBeforeStart(f *fixture) {
	t := f.t
	w := f.createWorker("w")
	j, a := f.running(w.ID) // assigned at base+1s, started at base+2s
	f.end(a.ID, store.AttemptEnd{At: at(-time.Hour), State: drover.AttemptCompleted, ExitCode: intp(0)},
		store.JobOutcome{State: drover.JobCompleted, ExitCode: intp(0)})
	got, gj := f.attempt(a.ID), f.job(j.ID)
	if !got.FinishedAt.Equal(at(2*time.Second)) || got.Phases.Running != 0 || !gj.CompletedAt.Equal(at(2*time.Second)) {
		t.Errorf("end an hour before the start: attempt finished %v (ran %s), job completed %v; want both at the start, base+2s, and 0s",
			got.FinishedAt, got.Phases.Running, gj.CompletedAt)
	}

	// Unstarted, with the start reported with the end: neither before the
	// assignment.
	j2 := f.createJob(base)
	a2 := f.assign(at(time.Second), j2.ID, w.ID)
	early := at(-time.Hour)
	f.end(a2.ID, store.AttemptEnd{At: at(-time.Minute), StartedAt: &early, State: drover.AttemptCompleted, ExitCode: intp(0)},
		store.JobOutcome{State: drover.JobCompleted, ExitCode: intp(0)})
	got2, gj2 := f.attempt(a2.ID), f.job(j2.ID)
	if got2.StartedAt == nil || !got2.StartedAt.Equal(at(time.Second)) || !got2.FinishedAt.Equal(at(time.Second)) ||
		gj2.StartedAt == nil || !gj2.StartedAt.Equal(at(time.Second)) {
		t.Errorf("start and end before the assignment: attempt %v–%v, job started %v; want all at the assignment, base+1s",
			got2.StartedAt, got2.FinishedAt, gj2.StartedAt)
	}
}
