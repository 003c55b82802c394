package storetest

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/store"
)

// base is the suite's clock origin. It is fixed and in UTC. Its nanosecond
// part makes every round trip checked to the nanosecond.
var base = time.Date(2031, time.March, 14, 15, 9, 26, 535897932, time.UTC)

// at is base plus d.
func at(d time.Duration) time.Time { return base.Add(d) }

// fixture is one subtest's store and the shortcuts to set up its state.
// Its methods fail the test on any unexpected error.
type fixture struct {
	t   *testing.T
	ctx context.Context
	s   store.Store
}

func newFixture(t *testing.T, open func(t *testing.T) store.Store) *fixture {
	s := open(t)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return &fixture{t: t, ctx: t.Context(), s: s}
}

// testSpec is a small valid spec.
func testSpec() drover.JobSpec {
	return drover.JobSpec{
		Command:   drover.Command{"echo", "hello"},
		Executor:  drover.ExecutorProcess,
		Resources: drover.Resources{CPU: 500, MemoryMB: 256},
	}
}

// createJob creates a QUEUED job submitted at createdAt; opts adjust it first.
func (f *fixture) createJob(createdAt time.Time, opts ...func(*drover.Job)) *drover.Job {
	f.t.Helper()
	j := &drover.Job{ID: drover.NewID("job"), Spec: testSpec(), State: drover.JobQueued, CreatedAt: createdAt}
	for _, o := range opts {
		o(j)
	}
	got, created, err := f.s.CreateJob(f.ctx, j, "")
	if err != nil {
		f.t.Fatalf("CreateJob: %v", err)
	}
	if !created {
		f.t.Fatalf("CreateJob without a key: created = false")
	}
	return got
}

// createWorker registers a READY worker named name at base; opts adjust it first.
func (f *fixture) createWorker(name string, opts ...func(*drover.Worker)) *drover.Worker {
	f.t.Helper()
	w := &drover.Worker{
		ID:              drover.NewID("wrk"),
		Name:            name,
		Labels:          map[string]string{"zone": "a"},
		Executors:       []string{drover.ExecutorProcess},
		Capacity:        drover.Capacity{CPU: 4000, MemoryMB: 8192, Slots: 4},
		State:           drover.WorkerReady,
		Version:         "test",
		RegisteredAt:    base,
		LastHeartbeatAt: base,
	}
	for _, o := range opts {
		o(w)
	}
	if err := f.s.CreateWorker(f.ctx, w, []byte("hash of "+name)); err != nil {
		f.t.Fatalf("CreateWorker: %v", err)
	}
	return f.worker(w.ID)
}

// assign places one job on one worker at now and returns the new attempt.
func (f *fixture) assign(now time.Time, jobID, workerID string) drover.Attempt {
	f.t.Helper()
	as, err := f.s.Assign(f.ctx, now, []store.Placement{{JobID: jobID, WorkerID: workerID, AttemptID: drover.NewID("att")}})
	if err != nil {
		f.t.Fatalf("Assign: %v", err)
	}
	if len(as) != 1 {
		f.t.Fatalf("Assign of one valid placement made %d attempts", len(as))
	}
	return as[0]
}

// running creates a job, assigns it to workerID and starts it: the attempt
// is assigned at base+1s and started at base+2s.
func (f *fixture) running(workerID string, opts ...func(*drover.Job)) (*drover.Job, drover.Attempt) {
	f.t.Helper()
	j := f.createJob(base, opts...)
	a := f.assign(at(time.Second), j.ID, workerID)
	if _, err := f.s.StartAttempt(f.ctx, a.ID, at(2*time.Second), 0, 0); err != nil {
		f.t.Fatalf("StartAttempt: %v", err)
	}
	return f.job(j.ID), *f.attempt(a.ID)
}

// end ends an attempt with the given outcome for its job.
func (f *fixture) end(attemptID string, e store.AttemptEnd, o store.JobOutcome) *drover.Job {
	f.t.Helper()
	j, err := f.s.EndAttempt(f.ctx, attemptID, e, func(*drover.Job, *drover.Attempt) store.JobOutcome { return o })
	if err != nil {
		f.t.Fatalf("EndAttempt: %v", err)
	}
	return j
}

func (f *fixture) job(id string) *drover.Job {
	f.t.Helper()
	j, err := f.s.GetJob(f.ctx, id)
	if err != nil {
		f.t.Fatalf("GetJob: %v", err)
	}
	return j
}

func (f *fixture) attempt(id string) *drover.Attempt {
	f.t.Helper()
	a, err := f.s.GetAttempt(f.ctx, id)
	if err != nil {
		f.t.Fatalf("GetAttempt: %v", err)
	}
	return a
}

func (f *fixture) worker(id string) *drover.Worker {
	f.t.Helper()
	w, err := f.s.GetWorker(f.ctx, id)
	if err != nil {
		f.t.Fatalf("GetWorker: %v", err)
	}
	return w
}

// wantCode checks that err carries the domain error code.
func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := drover.ErrorCode(err); got != code {
		t.Errorf("%s: error %v (code %q), want code %q", what, err, got, code)
	}
}

// wantTime checks that got is set and equal to want.
func wantTime(t *testing.T, what string, got *time.Time, want time.Time) {
	t.Helper()
	if got == nil {
		t.Errorf("%s = nil, want %s", what, want.Format(time.RFC3339Nano))
		return
	}
	if !got.Equal(want) {
		t.Errorf("%s = %s, want %s", what, got.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
	}
}

// wantNoTime checks that got is unset.
func wantNoTime(t *testing.T, what string, got *time.Time) {
	t.Helper()
	if got != nil {
		t.Errorf("%s = %s, want nil", what, got.Format(time.RFC3339Nano))
	}
}

// wantInt checks an optional integer such as an exit code.
func wantInt(t *testing.T, what string, got *int, want int) {
	t.Helper()
	if got == nil || *got != want {
		t.Errorf("%s = %s, want %d", what, fmtInt(got), want)
	}
}

func fmtInt(p *int) string {
	if p == nil {
		return "nil"
	}
	return strconv.Itoa(*p)
}

func intp(n int) *int { return &n }

// jobIDs returns the ids of js in order.
func jobIDs(js []drover.Job) []string {
	ids := make([]string, len(js))
	for i, j := range js {
		ids[i] = j.ID
	}
	return ids
}

// attemptIDs returns the ids of as, sorted.
func attemptIDs(as []drover.Attempt) []string {
	ids := make([]string, len(as))
	for i, a := range as {
		ids[i] = a.ID
	}
	slices.Sort(ids)
	return ids
}

// sorted returns a sorted copy of ids.
func sorted(ids ...string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}
