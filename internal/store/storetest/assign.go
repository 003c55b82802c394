package storetest

import (
	"slices"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/store"
)

func testAssign(f *fixture) {
	t := f.t
	w := f.createWorker("w")
	j := f.createJob(base)
	now := at(3*time.Second + 17)
	attemptID := drover.NewID("att")

	as, err := f.s.Assign(f.ctx, now, []store.Placement{{JobID: j.ID, WorkerID: w.ID, AttemptID: attemptID}})
	if err != nil {
		t.Fatalf("Assign: %v", err)
	}
	if len(as) != 1 {
		t.Fatalf("Assign made %d attempts, want 1", len(as))
	}
	stored := f.attempt(attemptID)
	for _, a := range []*drover.Attempt{&as[0], stored} {
		if a.ID != attemptID || a.JobID != j.ID || a.WorkerID != w.ID || a.N != 1 || a.WorkerName != "w" {
			t.Errorf("attempt = %s of %s on %s (%q) n=%d, want %s of %s on %s (\"w\") n=1", a.ID, a.JobID, a.WorkerID, a.WorkerName, a.N, attemptID, j.ID, w.ID)
		}
		if a.State != drover.AttemptAssigned {
			t.Errorf("attempt state = %s, want ASSIGNED", a.State)
		}
		if a.Resources != j.Spec.Resources {
			t.Errorf("attempt resources = %+v, want the job's %+v", a.Resources, j.Spec.Resources)
		}
		wantTime(t, "attempt AssignedAt", a.AssignedAt, now)
		wantNoTime(t, "attempt DeliveredAt", a.DeliveredAt)
		wantNoTime(t, "attempt AcceptedAt", a.AcceptedAt)
		wantNoTime(t, "attempt StartedAt", a.StartedAt)
		wantNoTime(t, "attempt FinishedAt", a.FinishedAt)
		if a.Phases.Queued.D() != now.Sub(base) {
			t.Errorf("attempt Phases.Queued = %s, want %s (assignedAt − job queuedAt)", a.Phases.Queued, now.Sub(base))
		}
		if a.StopRequested || a.ExitCode != nil {
			t.Errorf("new attempt has StopRequested or ExitCode set: %+v", a)
		}
	}

	got := f.job(j.ID)
	if got.State != drover.JobAssigned || got.WorkerID != w.ID || got.WorkerName != "w" {
		t.Errorf("job = %s on %q (%q), want ASSIGNED on %s (\"w\")", got.State, got.WorkerID, got.WorkerName, w.ID)
	}
	wantTime(t, "job AssignedAt", got.AssignedAt, now)
	wantTime(t, "job QueuedAt", got.QueuedAt, base)
	if len(got.Attempts) != 1 || got.Attempts[0].ID != attemptID {
		t.Errorf("job attempts = %v, want [%s]", attemptIDs(got.Attempts), attemptID)
	}

	gw := f.worker(w.ID)
	wantAlloc := drover.Allocated{CPU: j.Spec.Resources.CPU, MemoryMB: j.Spec.Resources.MemoryMB, Slots: 1}
	if gw.Allocated != wantAlloc {
		t.Errorf("worker Allocated = %+v, want %+v", gw.Allocated, wantAlloc)
	}
	if !slices.Equal(gw.Running, []string{j.ID}) {
		t.Errorf("worker Running = %v, want [%s]", gw.Running, j.ID)
	}

	// Many placements at once, over several workers.
	w2 := f.createWorker("w2")
	var ps []store.Placement
	var want []string
	for i := range 20 {
		job := f.createJob(at(time.Duration(i) * time.Millisecond))
		p := store.Placement{JobID: job.ID, WorkerID: []string{w.ID, w2.ID}[i%2], AttemptID: drover.NewID("att")}
		ps = append(ps, p)
		want = append(want, p.AttemptID)
	}
	as, err = f.s.Assign(f.ctx, at(time.Minute), ps)
	if err != nil {
		t.Fatalf("Assign of 20: %v", err)
	}
	if got := attemptIDs(as); !slices.Equal(got, sorted(want...)) {
		t.Errorf("Assign of 20 made %v, want %v", got, sorted(want...))
	}
	if n := f.worker(w2.ID).Allocated.Slots; n != 10 {
		t.Errorf("w2 Allocated.Slots = %d, want 10", n)
	}
}

func testAssignSkips(f *fixture) {
	t := f.t
	ready := f.createWorker("ready")
	draining := f.createWorker("draining")
	if _, err := f.s.SetWorkerState(f.ctx, draining.ID, drover.WorkerDraining); err != nil {
		t.Fatal(err)
	}
	down := f.createWorker("down")
	if _, _, err := f.s.MarkWorkerDown(f.ctx, down.ID, at(time.Second)); err != nil {
		t.Fatal(err)
	}
	j1 := f.createJob(base)
	j2 := f.createJob(base)
	j3 := f.createJob(base)
	j4 := f.createJob(base)
	now := at(time.Minute)

	ps := []store.Placement{
		{JobID: j1.ID, WorkerID: ready.ID, AttemptID: drover.NewID("att")},
		{JobID: j1.ID, WorkerID: ready.ID, AttemptID: drover.NewID("att")}, // j1 is no longer QUEUED
		{JobID: j2.ID, WorkerID: draining.ID, AttemptID: drover.NewID("att")},
		{JobID: j3.ID, WorkerID: down.ID, AttemptID: drover.NewID("att")},
		{JobID: j4.ID, WorkerID: "wrk_doesnotexist", AttemptID: drover.NewID("att")},
		{JobID: "job_doesnotexist", WorkerID: ready.ID, AttemptID: drover.NewID("att")},
	}
	as, err := f.s.Assign(f.ctx, now, ps)
	if err != nil {
		t.Fatalf("Assign: %v", err)
	}
	if got := attemptIDs(as); !slices.Equal(got, []string{ps[0].AttemptID}) {
		t.Errorf("Assign made %v, want only %s", got, ps[0].AttemptID)
	}
	for _, id := range []string{j2.ID, j3.ID, j4.ID} {
		if j := f.job(id); j.State != drover.JobQueued || len(j.Attempts) != 0 {
			t.Errorf("skipped job %s = %s with %d attempts, want QUEUED with none", id, j.State, len(j.Attempts))
		}
	}
	if j := f.job(j1.ID); len(j.Attempts) != 1 {
		t.Errorf("job placed twice has %d attempts, want 1", len(j.Attempts))
	}

	// A retried job waits out NotBefore; its next attempt is numbered 2.
	a1 := f.attempt(ps[0].AttemptID)
	if _, err := f.s.StartAttempt(f.ctx, a1.ID, at(61*time.Second), 0, 0); err != nil {
		t.Fatal(err)
	}
	notBefore := at(10 * time.Minute)
	f.end(a1.ID, store.AttemptEnd{At: at(2 * time.Minute), State: drover.AttemptFailed, ExitCode: intp(3), Reason: drover.ReasonExitCode},
		store.JobOutcome{State: drover.JobQueued, ExitCode: intp(3), Reason: drover.ReasonExitCode, NotBefore: &notBefore, JobRetry: true})

	early := store.Placement{JobID: j1.ID, WorkerID: ready.ID, AttemptID: drover.NewID("att")}
	if as, err := f.s.Assign(f.ctx, notBefore.Add(-1), []store.Placement{early}); err != nil || len(as) != 0 {
		t.Errorf("Assign before NotBefore = %d attempts, %v; want none", len(as), err)
	}
	a2 := f.assign(notBefore, j1.ID, ready.ID)
	if a2.N != 2 {
		t.Errorf("second attempt N = %d, want 2", a2.N)
	}
	if a2.Phases.Queued.D() != notBefore.Sub(at(2*time.Minute)) {
		t.Errorf("second attempt Phases.Queued = %s, want %s (since the requeue)", a2.Phases.Queued, notBefore.Sub(at(2*time.Minute)))
	}
	if j := f.job(j1.ID); len(j.Attempts) != 2 || j.Attempts[0].N != 1 || j.Attempts[1].N != 2 {
		t.Errorf("job attempts after retry = %+v, want n 1 then 2", j.Attempts)
	}
}

// testAssignOneTransaction checks that Assign applies all its placements or
// none: a placement that cannot be stored (its attempt id is taken) undoes
// the ones before it.
func testAssignOneTransaction(f *fixture) {
	t := f.t
	w := f.createWorker("w")
	j1 := f.createJob(base)
	j2 := f.createJob(base)
	id := drover.NewID("att")
	_, err := f.s.Assign(f.ctx, at(time.Second), []store.Placement{
		{JobID: j1.ID, WorkerID: w.ID, AttemptID: id},
		{JobID: j2.ID, WorkerID: w.ID, AttemptID: id},
	})
	if err == nil {
		t.Fatalf("Assign with a repeated attempt id succeeded")
	}
	for _, j := range []*drover.Job{j1, j2} {
		if got := f.job(j.ID); got.State != drover.JobQueued || len(got.Attempts) != 0 {
			t.Errorf("after a failed Assign, job %s = %s with %d attempts, want QUEUED with none", j.ID, got.State, len(got.Attempts))
		}
	}
	if n := f.worker(w.ID).Allocated.Slots; n != 0 {
		t.Errorf("after a failed Assign, worker Allocated.Slots = %d, want 0", n)
	}
}
