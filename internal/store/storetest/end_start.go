package storetest

import (
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/store"
)

// testEndWithStart covers AttemptEnd.StartedAt, a start reported with the
// end. It stands for the start never recorded, and acknowledges and
// delivers the attempt if nothing had. It is ignored once a start was
// recorded.
func testEndWithStart(f *fixture) {
	t := f.t
	w := f.createWorker("w")
	completed := store.JobOutcome{State: drover.JobCompleted, ExitCode: intp(0)}
	endAt := at(time.Minute + 7)

	// Never delivered nor acknowledged: the start stands for all three.
	j := f.createJob(base)
	a := f.assign(at(time.Second), j.ID, w.ID)
	startedAt := at(5*time.Second + 3)
	got := f.end(a.ID, store.AttemptEnd{At: endAt, StartedAt: &startedAt, State: drover.AttemptCompleted, ExitCode: intp(0)}, completed)
	for _, gj := range []*drover.Job{got, f.job(j.ID)} {
		if gj.State != drover.JobCompleted {
			t.Errorf("job = %s, want COMPLETED", gj.State)
		}
		wantTime(t, "job StartedAt", gj.StartedAt, startedAt)
		if len(gj.Attempts) != 1 {
			t.Fatalf("job has %d attempts", len(gj.Attempts))
		}
		ga := gj.Attempts[0]
		wantTime(t, "attempt StartedAt", ga.StartedAt, startedAt)
		wantTime(t, "attempt AcceptedAt", ga.AcceptedAt, startedAt)
		wantTime(t, "attempt DeliveredAt", ga.DeliveredAt, startedAt)
		if ga.Phases.Running.D() != endAt.Sub(startedAt) {
			t.Errorf("attempt Running = %s, want %s", ga.Phases.Running, endAt.Sub(startedAt))
		}
	}

	// Delivered and accepted before: those times stay.
	j = f.createJob(base)
	a = f.assign(at(time.Second), j.ID, w.ID)
	if _, _, err := f.s.Deliver(f.ctx, w.ID, at(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.AcceptAttempt(f.ctx, a.ID, at(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	f.end(a.ID, store.AttemptEnd{At: endAt, StartedAt: &startedAt, State: drover.AttemptCompleted, ExitCode: intp(0)}, completed)
	ga := f.attempt(a.ID)
	wantTime(t, "StartedAt of an accepted attempt", ga.StartedAt, startedAt)
	wantTime(t, "AcceptedAt of an accepted attempt", ga.AcceptedAt, at(3*time.Second))
	wantTime(t, "DeliveredAt of a delivered attempt", ga.DeliveredAt, at(2*time.Second))
	wantTime(t, "job StartedAt", f.job(j.ID).StartedAt, startedAt)

	// Already started: the start recorded stays.
	j, a = f.running(w.ID)
	got = f.end(a.ID, store.AttemptEnd{At: endAt, StartedAt: &startedAt, State: drover.AttemptCompleted, ExitCode: intp(0)}, completed)
	for _, gj := range []*drover.Job{got, f.job(j.ID)} {
		wantTime(t, "job StartedAt of a started job", gj.StartedAt, at(2*time.Second))
		wantTime(t, "attempt StartedAt of a started attempt", gj.Attempts[0].StartedAt, at(2*time.Second))
		if gj.Attempts[0].Phases.Running.D() != endAt.Sub(at(2*time.Second)) {
			t.Errorf("attempt Running = %s, want it from the recorded start", gj.Attempts[0].Phases.Running)
		}
	}

	// Requeued: the attempt keeps its start, the job waits again unstarted.
	j = f.createJob(base)
	a = f.assign(at(time.Second), j.ID, w.ID)
	got = f.end(a.ID, store.AttemptEnd{At: endAt, StartedAt: &startedAt, State: drover.AttemptFailed, ExitCode: intp(1), Reason: drover.ReasonExitCode},
		store.JobOutcome{State: drover.JobQueued, ExitCode: intp(1), Reason: drover.ReasonExitCode, JobRetry: true})
	for _, gj := range []*drover.Job{got, f.job(j.ID)} {
		if gj.State != drover.JobQueued {
			t.Errorf("job = %s, want QUEUED", gj.State)
		}
		wantNoTime(t, "StartedAt of a requeued job", gj.StartedAt)
		wantTime(t, "attempt StartedAt of a requeued job", gj.Attempts[0].StartedAt, startedAt)
	}
}
