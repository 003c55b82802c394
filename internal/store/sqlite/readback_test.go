package sqlite

import (
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/store"
)

// CreateJob, Assign, AcceptAttempt, StartAttempt and EndAttempt return
// jobs and attempts they assemble partly without reading them back; each
// must equal what GetJob or GetAttempt then reads. The steps cover first
// attempts and retries, repeated starts, starts reported with the end (on a
// first attempt, a retry, a requeue), requeues with and without a backoff,
// exit codes kept when an outcome has none, and both retry counters. Times
// come in other zones and with monotonic readings, which the store drops.
func TestResultsEqualReadBack(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "drover.db"))
	defer s.Close()
	ctx := t.Context()
	at := time.Date(2031, time.March, 14, 15, 9, 26, 535897932, time.FixedZone("x", 3600))
	specs := []drover.JobSpec{
		{Command: drover.Command{"true"}},
		{Command: drover.Command{"sh", "-c", "exit 3"}, Env: map[string]string{}, Constraints: map[string]string{"zone": "a"},
			RetryOn: []drover.Reason{}, Resources: drover.Resources{CPU: 250, MemoryMB: 64}, Timeout: drover.Duration(time.Minute), Priority: 5},
	}
	w := &drover.Worker{ID: drover.NewID("wrk"), Name: "w", Capacity: drover.Capacity{CPU: 1000, MemoryMB: 1024, Slots: 4}, RegisteredAt: at}
	if err := s.CreateWorker(ctx, w, []byte("h")); err != nil {
		t.Fatal(err)
	}
	sameJob := func(what string, got *drover.Job) {
		t.Helper()
		read, err := s.GetJob(ctx, got.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, read) {
			t.Errorf("%s returned\n%#v\nGetJob reads\n%#v", what, got, read)
		}
	}
	sameAttempt := func(what string, got *drover.Attempt) {
		t.Helper()
		read, err := s.GetAttempt(ctx, got.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, read) {
			t.Errorf("%s returned\n%#v\nGetAttempt reads\n%#v", what, got, read)
		}
	}
	code := func(n int) *int { return &n }
	// withClock gives t a monotonic reading and the local zone, as
	// time.Now does: the store keeps neither.
	withClock := func(t time.Time) time.Time { now := time.Now(); return now.Add(t.Sub(now)) }
	backoff := withClock(at.Add(time.Hour))

	type step struct {
		deliver, accept bool
		starts          int  // StartAttempt calls before the end
		startWithEnd    bool // the end reports the start
		early           bool // the start and end are dated before the assignment (the store moves them)
		end             store.AttemptEnd
		outcome         store.JobOutcome
	}
	failed := func(c *int, r drover.Reason) store.AttemptEnd {
		return store.AttemptEnd{State: drover.AttemptFailed, ExitCode: c, Reason: r, Message: "exit",
			Usage: drover.Usage{PeakMemoryBytes: 1 << 20, CPUSeconds: 0.1 + 0.2}, Phases: drover.Phases{ImagePull: drover.Duration(time.Millisecond)}}
	}
	for i, tc := range []struct {
		spec  drover.JobSpec
		steps []step
	}{
		{specs[0], []step{
			{starts: 2, end: failed(code(1), drover.ReasonExitCode),
				outcome: store.JobOutcome{State: drover.JobQueued, ExitCode: code(1), Reason: drover.ReasonExitCode, Message: "again", NotBefore: &backoff, JobRetry: true}},
			{deliver: true, startWithEnd: true, end: failed(nil, drover.ReasonWorkerLost),
				outcome: store.JobOutcome{State: drover.JobQueued, Reason: drover.ReasonWorkerLost, Message: "requeued", FleetRetry: true}},
			{accept: true, starts: 1, startWithEnd: true, end: failed(nil, drover.ReasonWorkerLost),
				outcome: store.JobOutcome{State: drover.JobFailed, Reason: drover.ReasonWorkerLost, Message: "gave up", FleetRetry: true}},
		}},
		{specs[1], []step{
			{accept: true, starts: 2, end: failed(code(3), drover.ReasonExitCode),
				outcome: store.JobOutcome{State: drover.JobQueued, ExitCode: code(3), Reason: drover.ReasonExitCode, Message: "again", JobRetry: true, FleetRetry: true}},
			{deliver: true, starts: 1, end: failed(code(4), drover.ReasonExitCode),
				outcome: store.JobOutcome{State: drover.JobFailed, ExitCode: code(4), Reason: drover.ReasonExitCode, Message: "failed"}},
		}},
		// The common short job: its start comes with its end.
		{specs[0], []step{
			{deliver: true, startWithEnd: true, end: store.AttemptEnd{State: drover.AttemptCompleted, ExitCode: code(0)},
				outcome: store.JobOutcome{State: drover.JobCompleted, ExitCode: code(0)}},
		}},
		{specs[1], []step{
			{accept: true, startWithEnd: true, end: failed(code(2), drover.ReasonExitCode),
				outcome: store.JobOutcome{State: drover.JobQueued, ExitCode: code(2), Reason: drover.ReasonExitCode, NotBefore: &backoff, JobRetry: true}},
			{startWithEnd: true, end: store.AttemptEnd{State: drover.AttemptCompleted, ExitCode: code(0)},
				outcome: store.JobOutcome{State: drover.JobCompleted, ExitCode: code(0)}},
		}},
		// Dated before the assignment by a worker's clock or memory.
		{specs[1], []step{
			{accept: true, starts: 1, early: true, end: failed(code(2), drover.ReasonExitCode),
				outcome: store.JobOutcome{State: drover.JobQueued, ExitCode: code(2), Reason: drover.ReasonExitCode, NotBefore: &backoff, JobRetry: true}},
			{startWithEnd: true, early: true, end: store.AttemptEnd{State: drover.AttemptCompleted, ExitCode: code(0)},
				outcome: store.JobOutcome{State: drover.JobCompleted, ExitCode: code(0)}},
		}},
		// Never started: not acknowledged, then failed before starting.
		{specs[0], []step{
			{end: failed(nil, drover.ReasonNotAcknowledged),
				outcome: store.JobOutcome{State: drover.JobQueued, Reason: drover.ReasonNotAcknowledged, FleetRetry: true}},
			{deliver: true, accept: true, end: failed(nil, drover.ReasonExecutorError),
				outcome: store.JobOutcome{State: drover.JobFailed, Reason: drover.ReasonExecutorError, Message: "no such image"}},
		}},
	} {
		made, _, err := s.CreateJob(ctx, &drover.Job{ID: drover.NewID("job"), Spec: tc.spec, CreatedAt: at}, "")
		if err != nil {
			t.Fatal(err)
		}
		sameJob(fmt.Sprintf("job %d: CreateJob", i), made)
		for n, st := range tc.steps {
			what := fmt.Sprintf("job %d attempt %d", i, n+1)
			// Each attempt a little later, past any backoff.
			now := at.Add(time.Duration(n) * 2 * time.Hour)
			as, err := s.Assign(ctx, now, []store.Placement{{JobID: made.ID, WorkerID: w.ID, AttemptID: drover.NewID("att")}})
			if err != nil || len(as) != 1 {
				t.Fatal(as, err)
			}
			sameAttempt(what+": Assign", &as[0])
			if st.deliver {
				if _, _, err := s.Deliver(ctx, w.ID, now.Add(time.Second)); err != nil {
					t.Fatal(err)
				}
			}
			if st.accept {
				for k := range 2 {
					accepted, err := s.AcceptAttempt(ctx, as[0].ID, now.Add(time.Duration(2+k)*time.Second))
					if err != nil {
						t.Fatal(err)
					}
					sameAttempt(fmt.Sprintf("%s: AcceptAttempt #%d", what, k+1), accepted)
				}
			}
			for k := range st.starts {
				when := now.Add(time.Duration(4+k)*time.Second + 7)
				if st.early {
					when = now.Add(-time.Hour)
				}
				started, err := s.StartAttempt(ctx, as[0].ID, when, time.Second, 2*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				sameJob(fmt.Sprintf("%s: StartAttempt #%d", what, k+1), started)
			}
			end := st.end
			end.At = now.Add(time.Minute + 11)
			if st.startWithEnd {
				started := withClock(now.Add(30*time.Second + 3))
				end.StartedAt = &started
			}
			if st.early {
				end.At = now.Add(-time.Minute)
				if end.StartedAt != nil {
					started := withClock(now.Add(-2 * time.Hour))
					end.StartedAt = &started
				}
			}
			ended, err := s.EndAttempt(ctx, as[0].ID, end, func(j *drover.Job, a *drover.Attempt) store.JobOutcome { return st.outcome })
			if err != nil {
				t.Fatal(err)
			}
			sameJob(what+": EndAttempt", ended)
		}
	}
}

// cloneSpec must copy every field that can share memory; a new map, slice
// or pointer field in drover.JobSpec must be added to it and here.
func TestCloneSpecCoversReferenceFields(t *testing.T) {
	copied := map[string]bool{"Command": true, "Env": true, "RetryOn": true, "Constraints": true}
	typ := reflect.TypeFor[drover.JobSpec]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		switch f.Type.Kind() {
		case reflect.Map, reflect.Slice, reflect.Pointer, reflect.Interface, reflect.Chan, reflect.Func:
			if !copied[f.Name] {
				t.Errorf("JobSpec.%s (%s) is not copied by cloneSpec", f.Name, f.Type)
			}
		}
	}
	sp := drover.JobSpec{Command: drover.Command{"a"}, Env: map[string]string{"K": "v"}, RetryOn: []drover.Reason{drover.ReasonTimeout}, Constraints: map[string]string{"z": "a"}}
	c := cloneSpec(sp)
	c.Command[0], c.Env["K"], c.RetryOn[0], c.Constraints["z"] = "b", "w", drover.ReasonExitCode, "b"
	if sp.Command[0] != "a" || sp.Env["K"] != "v" || sp.RetryOn[0] != drover.ReasonTimeout || sp.Constraints["z"] != "a" {
		t.Errorf("changing a clone changed the original: %+v", sp)
	}
}

// A spec served from the cache is a copy: changing what CreateJob or one
// read returned does not change the next read.
func TestCachedSpecsAreCopies(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "drover.db"))
	defer s.Close()
	ctx := t.Context()
	made, _, err := s.CreateJob(ctx, &drover.Job{ID: drover.NewID("job"), Spec: drover.JobSpec{Command: drover.Command{"echo", "hi"}, Env: map[string]string{"K": "v"}}, CreatedAt: time.Unix(0, 1)}, "")
	if err != nil {
		t.Fatal(err)
	}
	made.Spec.Command[1], made.Spec.Env["K"] = "changed", "changed"
	for range 2 {
		j, err := s.GetJob(ctx, made.ID)
		if err != nil {
			t.Fatal(err)
		}
		if j.Spec.Command[1] != "hi" || j.Spec.Env["K"] != "v" {
			t.Fatalf("read spec %+v", j.Spec)
		}
		j.Spec.Command[1], j.Spec.Env["K"] = "changed", "changed"
	}
}
