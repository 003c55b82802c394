package storetest

import (
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/store"
)

// fullSpec sets every field of a spec, so a round trip checks them all.
func fullSpec() drover.JobSpec {
	return drover.JobSpec{
		Name:        "build",
		Command:     drover.Command{"sh", "-c", "make && echo 'ok'"},
		Image:       "debian:bookworm-slim",
		Executor:    drover.ExecutorDocker,
		Bundle:      strings.Repeat("ab", 32),
		Env:         map[string]string{"A": "1", "GREETING": "héllo wörld"},
		Resources:   drover.Resources{CPU: 1500, MemoryMB: 2048},
		Timeout:     drover.Duration(90*time.Second + 7),
		MaxRetries:  3,
		RetryOn:     []drover.Reason{drover.ReasonExitCode, drover.ReasonTimeout},
		Constraints: map[string]string{"gpu": "yes"},
		Priority:    -7,
		Network:     true,
	}
}

func testCreateJob(f *fixture) {
	t := f.t
	f.putBundle(fullSpec().Bundle, base)
	in := &drover.Job{
		ID:        drover.NewID("job"),
		Spec:      fullSpec(),
		State:     drover.JobRunning, // ignored: a new job is QUEUED
		CreatedAt: base,
	}
	got, created, err := f.s.CreateJob(f.ctx, in, "")
	if err != nil {
		t.Fatalf("CreateJob: %v", err)
	}
	if !created {
		t.Errorf("created = false for a new job")
	}
	for _, j := range []*drover.Job{got, f.job(in.ID)} {
		if j.ID != in.ID {
			t.Errorf("ID = %q, want %q", j.ID, in.ID)
		}
		if !reflect.DeepEqual(j.Spec, fullSpec()) {
			t.Errorf("Spec = %+v, want %+v", j.Spec, fullSpec())
		}
		if j.State != drover.JobQueued {
			t.Errorf("State = %s, want QUEUED", j.State)
		}
		if !j.CreatedAt.Equal(base) {
			t.Errorf("CreatedAt = %s, want %s", j.CreatedAt, base)
		}
		wantTime(t, "QueuedAt", j.QueuedAt, base)
		wantNoTime(t, "AssignedAt", j.AssignedAt)
		wantNoTime(t, "StartedAt", j.StartedAt)
		wantNoTime(t, "CompletedAt", j.CompletedAt)
		wantNoTime(t, "CancelRequestedAt", j.CancelRequestedAt)
		wantNoTime(t, "NotBefore", j.NotBefore)
		if j.ExitCode != nil || j.Reason != "" || j.WorkerID != "" || j.OutputBytes != 0 || j.JobRetries != 0 || j.FleetRetries != 0 {
			t.Errorf("new job has outcome fields set: %+v", j)
		}
		if len(j.Attempts) != 0 {
			t.Errorf("new job has %d attempts", len(j.Attempts))
		}
	}

	_, _, err = f.s.CreateJob(f.ctx, &drover.Job{ID: in.ID, Spec: testSpec(), CreatedAt: base}, "")
	wantCode(t, "CreateJob with an existing id", err, drover.ECONFLICT)
}

func testIdempotencyKey(f *fixture) {
	t := f.t
	f.putBundle(fullSpec().Bundle, base)
	first := &drover.Job{ID: drover.NewID("job"), Spec: testSpec(), CreatedAt: base}
	got, created, err := f.s.CreateJob(f.ctx, first, "key-1")
	if err != nil || !created {
		t.Fatalf("first CreateJob = created %v, %v", created, err)
	}

	retry := &drover.Job{ID: drover.NewID("job"), Spec: fullSpec(), CreatedAt: at(time.Second)}
	again, created, err := f.s.CreateJob(f.ctx, retry, "key-1")
	if err != nil {
		t.Fatalf("CreateJob with a used key: %v", err)
	}
	if created {
		t.Errorf("CreateJob with a used key: created = true")
	}
	if again.ID != got.ID || !reflect.DeepEqual(again.Spec, got.Spec) || !again.CreatedAt.Equal(base) {
		t.Errorf("CreateJob with a used key returned %s %+v, want the first job %s", again.ID, again.Spec, got.ID)
	}
	if _, err := f.s.GetJob(f.ctx, retry.ID); drover.ErrorCode(err) != drover.ENOTFOUND {
		t.Errorf("the retried submission was stored: GetJob = %v", err)
	}

	// The key keeps returning the first job as it moves on.
	w := f.createWorker("w")
	a := f.assign(at(time.Minute), got.ID, w.ID)
	again, created, err = f.s.CreateJob(f.ctx, retry, "key-1")
	if err != nil || created {
		t.Fatalf("CreateJob with a used key after assignment = created %v, %v", created, err)
	}
	if again.State != drover.JobAssigned || len(again.Attempts) != 1 || again.Attempts[0].ID != a.ID {
		t.Errorf("CreateJob with a used key after assignment: state %s with %d attempts, want ASSIGNED with %s",
			again.State, len(again.Attempts), a.ID)
	}

	// Another key, or none, makes another job.
	other, created, err := f.s.CreateJob(f.ctx, retry, "key-2")
	if err != nil || !created || other.ID != retry.ID {
		t.Errorf("CreateJob with a new key = %v, created %v, %v; want job %s created", other, created, err, retry.ID)
	}
	for range 2 {
		f.createJob(base) // empty keys never collide
	}
}

func testGetJobNotFound(f *fixture) {
	_, err := f.s.GetJob(f.ctx, "job_doesnotexist")
	wantCode(f.t, "GetJob of an unknown id", err, drover.ENOTFOUND)
}

func testListJobs(f *fixture) {
	t := f.t
	w := f.createWorker("w")
	var all []*drover.Job
	for i := range 5 {
		all = append(all, f.createJob(at(time.Duration(i)*time.Second)))
	}
	f.assign(at(time.Minute), all[1].ID, w.ID)
	f.assign(at(time.Minute), all[3].ID, w.ID)
	if _, err := f.s.CancelJob(f.ctx, all[4].ID, at(time.Minute)); err != nil {
		t.Fatalf("CancelJob: %v", err)
	}
	ids := func(js ...*drover.Job) []string {
		var out []string
		for _, j := range js {
			out = append(out, j.ID)
		}
		return out
	}

	for _, tc := range []struct {
		state []drover.JobState
		want  []string
	}{
		{nil, ids(all[4], all[3], all[2], all[1], all[0])},
		{[]drover.JobState{drover.JobQueued}, ids(all[2], all[0])},
		{[]drover.JobState{drover.JobAssigned}, ids(all[3], all[1])},
		{[]drover.JobState{drover.JobCancelled}, ids(all[4])},
		{[]drover.JobState{drover.JobCompleted}, nil},
		{[]drover.JobState{drover.JobQueued, drover.JobCancelled}, ids(all[4], all[2], all[0])},
		{[]drover.JobState{drover.JobCompleted, drover.JobAssigned, drover.JobQueued}, ids(all[3], all[2], all[1], all[0])},
	} {
		js, next, err := f.s.ListJobs(f.ctx, drover.JobFilter{States: tc.state, Limit: 10})
		if err != nil {
			t.Fatalf("ListJobs(%q): %v", tc.state, err)
		}
		if got := jobIDs(js); !slices.Equal(got, tc.want) {
			t.Errorf("ListJobs(%q) = %v, want %v (newest first)", tc.state, got, tc.want)
		}
		if next != "" {
			t.Errorf("ListJobs(%q) of a single page: next cursor %q, want none", tc.state, next)
		}
		for _, j := range js {
			if len(j.Attempts) != 0 {
				t.Errorf("ListJobs(%q): job %s comes with %d attempts, want none", tc.state, j.ID, len(j.Attempts))
			}
			if len(tc.state) > 0 && !slices.Contains(tc.state, j.State) {
				t.Errorf("ListJobs(%q): job %s is %s", tc.state, j.ID, j.State)
			}
		}
	}

	// The deprecated State is one more state to keep.
	if js, _, err := f.s.ListJobs(f.ctx, drover.JobFilter{State: drover.JobCancelled, States: []drover.JobState{drover.JobQueued}, Limit: 10}); err != nil ||
		!slices.Equal(jobIDs(js), ids(all[4], all[2], all[0])) {
		t.Errorf("ListJobs(State CANCELLED, States QUEUED) = %v, %v; want %v", jobIDs(js), err, ids(all[4], all[2], all[0]))
	}

	// The listed job carries the same fields as GetJob, attempts aside.
	js, _, err := f.s.ListJobs(f.ctx, drover.JobFilter{States: []drover.JobState{drover.JobAssigned}, Limit: 1})
	if err != nil || len(js) != 1 {
		t.Fatalf("ListJobs(ASSIGNED, 1) = %d jobs, %v", len(js), err)
	}
	one := f.job(js[0].ID)
	one.Attempts = nil
	js[0].Attempts = nil
	if !reflect.DeepEqual(&js[0], one) {
		t.Errorf("ListJobs job = %+v\nGetJob      = %+v", js[0], *one)
	}
}

func testListJobsPagination(f *fixture) {
	t := f.t
	var ids []string // oldest first
	for i := range 7 {
		ids = append(ids, f.createJob(at(time.Duration(i)*time.Second)).ID)
	}
	newestFirst := slices.Clone(ids)
	slices.Reverse(newestFirst)

	// Walk all pages, checking each has at most limit jobs and that together
	// they list every job once, newest first.
	walk := func(filter drover.JobFilter, between func(page int)) []string {
		t.Helper()
		var got []string
		for page := 0; ; page++ {
			js, next, err := f.s.ListJobs(f.ctx, filter)
			if err != nil {
				t.Fatalf("ListJobs(%+v): %v", filter, err)
			}
			if len(js) > filter.Limit {
				t.Fatalf("ListJobs(%+v) returned %d jobs", filter, len(js))
			}
			got = append(got, jobIDs(js)...)
			if next == "" {
				return got
			}
			if len(js) == 0 {
				t.Fatalf("ListJobs(%+v): empty page with next cursor %q", filter, next)
			}
			if page > 20 {
				t.Fatalf("ListJobs: more pages than jobs")
			}
			filter.Cursor = next
			if between != nil {
				between(page)
			}
		}
	}

	if got := walk(drover.JobFilter{Limit: 3}, nil); !slices.Equal(got, newestFirst) {
		t.Errorf("pages of 3 = %v, want %v", got, newestFirst)
	}
	// A last page that is exactly full has no next cursor.
	if got := walk(drover.JobFilter{Limit: 7}, nil); !slices.Equal(got, newestFirst) {
		t.Errorf("one page of 7 = %v, want %v", got, newestFirst)
	}
	if got := walk(drover.JobFilter{Limit: 1}, nil); !slices.Equal(got, newestFirst) {
		t.Errorf("pages of 1 = %v, want %v", got, newestFirst)
	}

	// Cancel every other job: the filtered pages skip them without gaps.
	var queued []string
	for i, id := range ids {
		if i%2 == 0 {
			if _, err := f.s.CancelJob(f.ctx, id, at(time.Minute)); err != nil {
				t.Fatalf("CancelJob: %v", err)
			}
			continue
		}
		queued = append(queued, id)
	}
	slices.Reverse(queued)
	if got := walk(drover.JobFilter{States: []drover.JobState{drover.JobQueued}, Limit: 2}, nil); !slices.Equal(got, queued) {
		t.Errorf("QUEUED pages of 2 = %v, want %v", got, queued)
	}
	// Several states page as one list.
	if got := walk(drover.JobFilter{States: []drover.JobState{drover.JobCancelled, drover.JobQueued}, Limit: 2}, nil); !slices.Equal(got, newestFirst) {
		t.Errorf("CANCELLED,QUEUED pages of 2 = %v, want %v", got, newestFirst)
	}

	// Jobs submitted while a client pages through neither repeat nor shift
	// the pages: they are newer than the cursor.
	got := walk(drover.JobFilter{Limit: 2}, func(int) { f.createJob(at(time.Hour)) })
	if !slices.Equal(got, newestFirst) {
		t.Errorf("pages of 2 with submissions in between = %v, want %v", got, newestFirst)
	}
}

func testQueuedJobs(f *fixture) {
	t := f.t
	prio := func(p int) func(*drover.Job) { return func(j *drover.Job) { j.Spec.Priority = p } }
	a := f.createJob(at(1*time.Second), prio(0))
	b := f.createJob(at(3*time.Second), prio(5))
	c := f.createJob(at(2*time.Second), prio(5)) // a newer id, but queued earlier than b
	d := f.createJob(at(0), prio(-1))
	e := f.createJob(at(0), prio(10))
	w := f.createWorker("w")
	f.assign(at(time.Minute), e.ID, w.ID)

	want := []string{c.ID, b.ID, a.ID, d.ID}
	js, err := f.s.QueuedJobs(f.ctx, 100)
	if err != nil {
		t.Fatalf("QueuedJobs: %v", err)
	}
	if got := jobIDs(js); !slices.Equal(got, want) {
		t.Errorf("QueuedJobs = %v, want %v (priority desc, submission asc)", got, want)
	}
	for _, j := range js {
		if j.Spec.Resources != testSpec().Resources || len(j.Spec.Command) == 0 {
			t.Errorf("QueuedJobs: job %s has spec %+v, want the full spec", j.ID, j.Spec)
		}
	}
	js, err = f.s.QueuedJobs(f.ctx, 2)
	if err != nil {
		t.Fatalf("QueuedJobs(2): %v", err)
	}
	if got := jobIDs(js); !slices.Equal(got, want[:2]) {
		t.Errorf("QueuedJobs(2) = %v, want %v", got, want[:2])
	}

	// A retried job waiting out its backoff is still listed, at its new
	// queuedAt, with NotBefore for the scheduler to honour.
	g, att := f.running(w.ID, prio(5))
	nb := at(time.Hour + time.Minute)
	f.end(att.ID, store.AttemptEnd{At: at(time.Hour), State: drover.AttemptFailed, ExitCode: intp(1), Reason: drover.ReasonExitCode},
		store.JobOutcome{State: drover.JobQueued, ExitCode: intp(1), Reason: drover.ReasonExitCode, NotBefore: &nb, JobRetry: true})
	js, err = f.s.QueuedJobs(f.ctx, 0)
	if err != nil {
		t.Fatalf("QueuedJobs: %v", err)
	}
	want = []string{c.ID, b.ID, g.ID, a.ID, d.ID}
	if got := jobIDs(js); !slices.Equal(got, want) {
		t.Errorf("QueuedJobs with a retried job = %v, want %v", got, want)
	}
	if i := slices.Index(jobIDs(js), g.ID); i >= 0 {
		wantTime(t, "retried job NotBefore", js[i].NotBefore, nb)
		wantTime(t, "retried job QueuedAt", js[i].QueuedAt, at(time.Hour))
	}
}

// testQueuePlace checks that a job the fleet requeues keeps its place in
// the queue, ahead of jobs submitted after it. The fleet requeues a job
// when its worker is lost, or its assignment is not acknowledged or handed
// back. A job retried for its own failure takes its place anew, behind
// them. queuedAt dates the new wait either way.
func testQueuePlace(f *fixture) {
	t := f.t
	w := f.createWorker("w")
	lost, lostAtt := f.running(w.ID)      // submitted at base
	failed, failedAtt := f.running(w.ID)  // submitted at base
	handed, handedAtt := f.running(w.ID)  // submitted at base
	later := f.createJob(at(time.Minute)) // submitted after all three
	f.end(lostAtt.ID, store.AttemptEnd{At: at(time.Hour), State: drover.AttemptFailed, Reason: drover.ReasonWorkerLost},
		store.JobOutcome{State: drover.JobQueued, Reason: drover.ReasonWorkerLost, FleetRetry: true})
	f.end(failedAtt.ID, store.AttemptEnd{At: at(time.Hour), State: drover.AttemptFailed, ExitCode: intp(1), Reason: drover.ReasonExitCode},
		store.JobOutcome{State: drover.JobQueued, ExitCode: intp(1), Reason: drover.ReasonExitCode, JobRetry: true})
	got := f.end(handedAtt.ID, store.AttemptEnd{At: at(time.Hour), State: drover.AttemptFailed, Reason: drover.ReasonNotAcknowledged},
		store.JobOutcome{State: drover.JobQueued, Reason: drover.ReasonNotAcknowledged})
	if !got.QueueRank.Equal(base) {
		t.Errorf("EndAttempt returned QueueRank %s for a job handed back, want its submission %s", got.QueueRank, base)
	}
	js, err := f.s.QueuedJobs(f.ctx, 0)
	if err != nil {
		t.Fatalf("QueuedJobs: %v", err)
	}
	// lost and handed keep their place. Both were submitted at base, and
	// ids break the tie. later was submitted before failed's retry.
	want := append(sorted(lost.ID, handed.ID), later.ID, failed.ID)
	if ids := jobIDs(js); !slices.Equal(ids, want) {
		t.Errorf("QueuedJobs = %v, want %v (fleet requeues keep their place, a job's own retry goes behind)", ids, want)
	}
	for _, j := range js {
		if j.ID != later.ID {
			wantTime(t, "requeued job "+j.ID+" QueuedAt", j.QueuedAt, at(time.Hour))
		}
	}
}

func testCountJobs(f *fixture) {
	t := f.t
	w := f.createWorker("w")
	for range 3 {
		f.createJob(base)
	}
	j := f.createJob(base)
	f.assign(at(time.Second), j.ID, w.ID)
	f.running(w.ID)
	_, done := f.running(w.ID)
	f.end(done.ID, store.AttemptEnd{At: at(time.Minute), State: drover.AttemptCompleted, ExitCode: intp(0)},
		store.JobOutcome{State: drover.JobCompleted, ExitCode: intp(0)})
	c := f.createJob(base)
	if _, err := f.s.CancelJob(f.ctx, c.ID, at(time.Second)); err != nil {
		t.Fatal(err)
	}

	counts, err := f.s.CountJobs(f.ctx)
	if err != nil {
		t.Fatalf("CountJobs: %v", err)
	}
	want := map[drover.JobState]int{
		drover.JobQueued: 3, drover.JobAssigned: 1, drover.JobRunning: 1,
		drover.JobCompleted: 1, drover.JobFailed: 0, drover.JobCancelled: 1,
	}
	for st, n := range want {
		if counts[st] != n {
			t.Errorf("CountJobs()[%s] = %d, want %d", st, counts[st], n)
		}
	}
}

func testSetPendingReasons(f *fixture) {
	t := f.t
	w := f.createWorker("w")
	q1 := f.createJob(base)
	q2 := f.createJob(base)
	as := f.createJob(base)
	f.assign(at(time.Second), as.ID, w.ID)

	err := f.s.SetPendingReasons(f.ctx, map[string]string{
		q1.ID:              "needs 8000m CPU; the largest free is 2000m",
		q2.ID:              "no worker has label gpu=yes",
		as.ID:              "not queued any more",
		"job_doesnotexist": "unknown jobs are skipped",
	})
	if err != nil {
		t.Fatalf("SetPendingReasons: %v", err)
	}
	if got := f.job(q1.ID).PendingReason; got != "needs 8000m CPU; the largest free is 2000m" {
		t.Errorf("PendingReason = %q", got)
	}
	if got := f.job(q2.ID).PendingReason; got != "no worker has label gpu=yes" {
		t.Errorf("PendingReason = %q", got)
	}
	if got := f.job(as.ID).PendingReason; got != "" {
		t.Errorf("PendingReason of an assigned job = %q, want it skipped", got)
	}

	if err := f.s.SetPendingReasons(f.ctx, map[string]string{q1.ID: ""}); err != nil {
		t.Fatalf("SetPendingReasons: %v", err)
	}
	if got := f.job(q1.ID).PendingReason; got != "" {
		t.Errorf("PendingReason after clearing = %q", got)
	}
	if got := f.job(q2.ID).PendingReason; got == "" {
		t.Errorf("PendingReason of a job not named was cleared")
	}
	if err := f.s.SetPendingReasons(f.ctx, nil); err != nil {
		t.Errorf("SetPendingReasons(nil): %v", err)
	}
}
