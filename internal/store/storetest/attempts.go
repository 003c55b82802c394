package storetest

import (
	"reflect"
	"slices"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/store"
)

func testGetAttempts(f *fixture) {
	t := f.t
	w := f.createWorker("w")
	_, a1 := f.running(w.ID)
	_, a2 := f.running(w.ID)

	_, err := f.s.GetAttempt(f.ctx, "att_doesnotexist")
	wantCode(t, "GetAttempt of an unknown id", err, drover.ENOTFOUND)

	as, err := f.s.AttemptsByID(f.ctx, []string{a2.ID, "att_doesnotexist", a1.ID})
	if err != nil {
		t.Fatalf("AttemptsByID: %v", err)
	}
	if got, want := attemptIDs(as), sorted(a1.ID, a2.ID); !slices.Equal(got, want) {
		t.Errorf("AttemptsByID = %v, want the existing %v", got, want)
	}
	for _, a := range as {
		if one := f.attempt(a.ID); !reflect.DeepEqual(&a, one) {
			t.Errorf("AttemptsByID attempt = %+v\nGetAttempt         = %+v", a, *one)
		}
	}
	if as, err := f.s.AttemptsByID(f.ctx, nil); err != nil || len(as) != 0 {
		t.Errorf("AttemptsByID(nil) = %v, %v; want none", as, err)
	}
}

// testDeliver checks that Deliver hands each assignment and each stop
// request to its worker once. It stays one function because each stage
// works on the attempts the stage before it left.
func testDeliver(f *fixture) {
	t := f.t
	w1 := f.createWorker("w1")
	w2 := f.createWorker("w2")
	f.putBundle(fullSpec().Bundle, base)
	j1 := f.createJob(base, func(j *drover.Job) { j.Spec = fullSpec() })
	j2 := f.createJob(base)
	j3 := f.createJob(base)
	a1 := f.assign(at(time.Second), j1.ID, w1.ID)
	a2 := f.assign(at(2*time.Second), j2.ID, w1.ID)
	a3 := f.assign(at(time.Second), j3.ID, w2.ID)

	now := at(3 * time.Second)
	as, stops, err := f.s.Deliver(f.ctx, w1.ID, now)
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if len(stops) != 0 {
		t.Errorf("Deliver stops = %v, want none", stops)
	}
	byAttempt := map[string]drover.Assignment{}
	for _, a := range as {
		byAttempt[a.AttemptID] = a
	}
	if len(as) != 2 || len(byAttempt) != 2 {
		t.Fatalf("Deliver returned %d assignments, want 2: %+v", len(as), as)
	}
	for _, want := range []struct {
		a   drover.Attempt
		job *drover.Job
	}{{a1, j1}, {a2, j2}} {
		got, ok := byAttempt[want.a.ID]
		if !ok {
			t.Errorf("Deliver is missing attempt %s", want.a.ID)
			continue
		}
		if got.JobID != want.job.ID || got.N != 1 || !reflect.DeepEqual(got.Spec, want.job.Spec) {
			t.Errorf("assignment = %+v, want job %s n=1 with spec %+v", got, want.job.ID, want.job.Spec)
		}
		wantTime(t, "DeliveredAt", f.attempt(want.a.ID).DeliveredAt, now)
	}

	// Each assignment is delivered once, to its own worker.
	if as, stops, err := f.s.Deliver(f.ctx, w1.ID, at(4*time.Second)); err != nil || len(as)+len(stops) != 0 {
		t.Errorf("second Deliver = %v %v, %v; want nothing", as, stops, err)
	}
	if as, _, err := f.s.Deliver(f.ctx, w2.ID, now); err != nil || len(as) != 1 || as[0].AttemptID != a3.ID {
		t.Errorf("Deliver(w2) = %+v, %v; want %s", as, err, a3.ID)
	}
	if as, stops, err := f.s.Deliver(f.ctx, "wrk_doesnotexist", now); err != nil || len(as)+len(stops) != 0 {
		t.Errorf("Deliver to an unknown worker = %v %v, %v; want nothing", as, stops, err)
	}

	// An assignment cancelled before delivery is never delivered.
	j4 := f.createJob(base)
	f.assign(at(5*time.Second), j4.ID, w2.ID)
	if _, err := f.s.CancelJob(f.ctx, j4.ID, at(6*time.Second)); err != nil {
		t.Fatal(err)
	}
	if as, stops, err := f.s.Deliver(f.ctx, w2.ID, at(7*time.Second)); err != nil || len(as)+len(stops) != 0 {
		t.Errorf("Deliver of a cancelled assignment = %v %v, %v; want nothing", as, stops, err)
	}

	// Stop requests are delivered once too, while StopRequested keeps
	// listing them until the attempt ends.
	if _, err := f.s.StartAttempt(f.ctx, a1.ID, at(8*time.Second), 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.CancelJob(f.ctx, j1.ID, at(9*time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, stops, err := f.s.Deliver(f.ctx, w1.ID, at(10*time.Second)); err != nil || !slices.Equal(stops, []string{a1.ID}) {
		t.Errorf("Deliver stops = %v, %v; want [%s]", stops, err, a1.ID)
	}
	if _, stops, err := f.s.Deliver(f.ctx, w1.ID, at(11*time.Second)); err != nil || len(stops) != 0 {
		t.Errorf("second Deliver stops = %v, %v; want none", stops, err)
	}
	if ids, err := f.s.StopRequested(f.ctx, w1.ID); err != nil || !slices.Equal(ids, []string{a1.ID}) {
		t.Errorf("StopRequested = %v, %v; want [%s]", ids, err, a1.ID)
	}
	if ids, err := f.s.StopRequested(f.ctx, w2.ID); err != nil || len(ids) != 0 {
		t.Errorf("StopRequested(w2) = %v, %v; want none", ids, err)
	}
}

func testAcceptAttempt(f *fixture) {
	t := f.t
	w := f.createWorker("w")
	j := f.createJob(base)
	a := f.assign(at(time.Second), j.ID, w.ID)

	now := at(2 * time.Second)
	got, err := f.s.AcceptAttempt(f.ctx, a.ID, now)
	if err != nil {
		t.Fatalf("AcceptAttempt: %v", err)
	}
	if got.State != drover.AttemptAssigned {
		t.Errorf("accepted attempt = %s, want ASSIGNED until it starts", got.State)
	}
	wantTime(t, "AcceptedAt", got.AcceptedAt, now)
	wantTime(t, "stored AcceptedAt", f.attempt(a.ID).AcceptedAt, now)

	again, err := f.s.AcceptAttempt(f.ctx, a.ID, at(3*time.Second))
	if err != nil {
		t.Fatalf("second AcceptAttempt: %v", err)
	}
	wantTime(t, "AcceptedAt after a second accept", again.AcceptedAt, now)

	if uj := f.job(j.ID); uj.State != drover.JobAssigned {
		t.Errorf("job after accept = %s, want ASSIGNED", uj.State)
	}

	_, err = f.s.AcceptAttempt(f.ctx, "att_doesnotexist", now)
	wantCode(t, "AcceptAttempt of an unknown attempt", err, drover.ENOTFOUND)
	f.end(a.ID, store.AttemptEnd{At: at(time.Minute), State: drover.AttemptFailed, Reason: drover.ReasonExecutorError, Message: "no such image"},
		store.JobOutcome{State: drover.JobFailed, Reason: drover.ReasonExecutorError, Message: "no such image"})
	_, err = f.s.AcceptAttempt(f.ctx, a.ID, at(2*time.Minute))
	wantCode(t, "AcceptAttempt of an ended attempt", err, drover.ECONFLICT)
}

func testStartAttempt(f *fixture) {
	t := f.t
	w := f.createWorker("w")
	j := f.createJob(base)
	a := f.assign(at(time.Second), j.ID, w.ID)

	now := at(5*time.Second + 11)
	bundle, image := 1500*time.Millisecond, 2*time.Second+3
	got, err := f.s.StartAttempt(f.ctx, a.ID, now, bundle, image)
	if err != nil {
		t.Fatalf("StartAttempt: %v", err)
	}
	for _, gj := range []*drover.Job{got, f.job(j.ID)} {
		if gj.State != drover.JobRunning {
			t.Errorf("job = %s, want RUNNING", gj.State)
		}
		wantTime(t, "job StartedAt", gj.StartedAt, now)
		if len(gj.Attempts) != 1 || gj.Attempts[0].State != drover.AttemptRunning {
			t.Errorf("job attempts = %+v, want one RUNNING", gj.Attempts)
		}
	}
	ga := f.attempt(a.ID)
	if ga.State != drover.AttemptRunning {
		t.Errorf("attempt = %s, want RUNNING", ga.State)
	}
	wantTime(t, "attempt StartedAt", ga.StartedAt, now)
	wantTime(t, "attempt AcceptedAt (start acknowledges)", ga.AcceptedAt, now)
	if ga.Phases.BundleFetch.D() != bundle || ga.Phases.ImagePull.D() != image {
		t.Errorf("phases = %+v, want bundleFetch %s imagePull %s", ga.Phases, bundle, image)
	}
	if ga.Phases.Queued.D() != time.Second {
		t.Errorf("Phases.Queued = %s after start, want the 1s from assignment", ga.Phases.Queued)
	}

	// Starting again (a retried request) changes nothing.
	again, err := f.s.StartAttempt(f.ctx, a.ID, at(time.Minute), 0, 0)
	if err != nil {
		t.Fatalf("second StartAttempt: %v", err)
	}
	wantTime(t, "job StartedAt after a second start", again.StartedAt, now)
	if ga := f.attempt(a.ID); ga.Phases.BundleFetch.D() != bundle || !ga.StartedAt.Equal(now) {
		t.Errorf("second start changed the attempt: %+v", ga)
	}

	// An accepted attempt keeps its acceptance time when it starts.
	j2 := f.createJob(base)
	a2 := f.assign(at(time.Second), j2.ID, w.ID)
	if _, err := f.s.AcceptAttempt(f.ctx, a2.ID, at(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.StartAttempt(f.ctx, a2.ID, at(9*time.Second), 0, 0); err != nil {
		t.Fatal(err)
	}
	wantTime(t, "AcceptedAt of an accepted then started attempt", f.attempt(a2.ID).AcceptedAt, at(2*time.Second))

	_, err = f.s.StartAttempt(f.ctx, "att_doesnotexist", now, 0, 0)
	wantCode(t, "StartAttempt of an unknown attempt", err, drover.ENOTFOUND)
	f.end(a.ID, store.AttemptEnd{At: at(2 * time.Minute), State: drover.AttemptCompleted, ExitCode: intp(0)},
		store.JobOutcome{State: drover.JobCompleted, ExitCode: intp(0)})
	_, err = f.s.StartAttempt(f.ctx, a.ID, at(3*time.Minute), 0, 0)
	wantCode(t, "StartAttempt of an ended attempt", err, drover.ECONFLICT)
}

func testUnacknowledged(f *fixture) {
	t := f.t
	w := f.createWorker("w")
	assigned := func(d time.Duration) drover.Attempt {
		return f.assign(at(d), f.createJob(base).ID, w.ID)
	}
	old := assigned(time.Second)
	delivered := assigned(2 * time.Second)
	if _, _, err := f.s.Deliver(f.ctx, w.ID, at(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	accepted := assigned(time.Second)
	if _, err := f.s.AcceptAttempt(f.ctx, accepted.ID, at(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	started := assigned(time.Second)
	if _, err := f.s.StartAttempt(f.ctx, started.ID, at(2*time.Second), 0, 0); err != nil {
		t.Fatal(err)
	}
	ended := assigned(time.Second)
	f.end(ended.ID, store.AttemptEnd{At: at(2 * time.Second), State: drover.AttemptFailed, Reason: drover.ReasonNotAcknowledged},
		store.JobOutcome{State: drover.JobQueued, Reason: drover.ReasonNotAcknowledged, FleetRetry: true})
	assigned(10 * time.Second) // at the cut-off: not before it

	as, err := f.s.UnacknowledgedAttempts(f.ctx, at(10*time.Second))
	if err != nil {
		t.Fatalf("UnacknowledgedAttempts: %v", err)
	}
	if got, want := attemptIDs(as), sorted(old.ID, delivered.ID); !slices.Equal(got, want) {
		t.Errorf("UnacknowledgedAttempts = %v, want %v", got, want)
	}
}

func testOverdue(f *fixture) {
	t := f.t
	w := f.createWorker("w")
	timeout := func(d time.Duration) func(*drover.Job) {
		return func(j *drover.Job) { j.Spec.Timeout = drover.Duration(d) }
	}
	// f.running starts attempts at base+2s.
	_, short := f.running(w.ID, timeout(10*time.Second))
	_, long := f.running(w.ID, timeout(time.Hour))
	f.running(w.ID) // no timeout: never overdue
	notStarted := f.createJob(base, timeout(time.Second))
	f.assign(at(time.Second), notStarted.ID, w.ID)
	_, ended := f.running(w.ID, timeout(time.Second))
	f.end(ended.ID, store.AttemptEnd{At: at(5 * time.Second), State: drover.AttemptCompleted, ExitCode: intp(0)},
		store.JobOutcome{State: drover.JobCompleted, ExitCode: intp(0)})

	// A worker that said its grace is given that one, not the default.
	patient := f.createWorker("patient", func(w *drover.Worker) { w.Grace = drover.Duration(time.Minute) })
	_, waits := f.running(patient.ID, timeout(10*time.Second))

	slack, grace := 30*time.Second, 15*time.Second
	shortDeadline := at(2*time.Second + 10*time.Second + slack + grace)
	longDeadline := at(2*time.Second + time.Hour + slack + grace)
	patientDeadline := at(2*time.Second + 10*time.Second + slack + time.Minute)
	for _, tc := range []struct {
		now  time.Time
		want []string
	}{
		{shortDeadline, nil}, // startedAt + timeout + slack + grace must be before now
		{shortDeadline.Add(1), []string{short.ID}},
		{patientDeadline, []string{short.ID}},
		{patientDeadline.Add(1), sorted(short.ID, waits.ID)},
		{longDeadline.Add(1), sorted(short.ID, long.ID, waits.ID)},
	} {
		as, err := f.s.OverdueAttempts(f.ctx, tc.now, slack, grace)
		if err != nil {
			t.Fatalf("OverdueAttempts: %v", err)
		}
		if got := attemptIDs(as); !slices.Equal(got, tc.want) {
			t.Errorf("OverdueAttempts(base+%s) = %v, want %v", tc.now.Sub(base), got, tc.want)
		}
	}
}
