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

// CreateJob, StartAttempt and EndAttempt return jobs they assemble partly
// without reading them back; each must equal what GetJob then reads, for a
// first attempt and for a retry, a repeated start, a requeue and an end.
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
	same := func(what string, got *drover.Job) {
		t.Helper()
		read, err := s.GetJob(ctx, got.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, read) {
			t.Errorf("%s returned\n%#v\nGetJob reads\n%#v", what, got, read)
		}
	}
	for i, spec := range specs {
		made, _, err := s.CreateJob(ctx, &drover.Job{ID: drover.NewID("job"), Spec: spec, CreatedAt: at}, "")
		if err != nil {
			t.Fatal(err)
		}
		same(fmt.Sprintf("spec %d: CreateJob", i), made)
		for n := 1; n <= 2; n++ {
			as, err := s.Assign(ctx, at, []store.Placement{{JobID: made.ID, WorkerID: w.ID, AttemptID: drover.NewID("att")}})
			if err != nil || len(as) != 1 {
				t.Fatal(as, err)
			}
			if i == 1 {
				if _, err := s.AcceptAttempt(ctx, as[0].ID, at); err != nil {
					t.Fatal(err)
				}
			}
			for k := range 2 {
				started, err := s.StartAttempt(ctx, as[0].ID, at.Add(time.Duration(k)*time.Second), time.Second, 2*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				same(fmt.Sprintf("spec %d attempt %d: StartAttempt #%d", i, n, k+1), started)
			}
			code := i + n
			outcome := store.JobOutcome{State: drover.JobQueued, ExitCode: &code, Reason: drover.ReasonExitCode, Message: "again", JobRetry: true}
			if n == 2 {
				outcome = store.JobOutcome{State: drover.JobFailed, ExitCode: &code, Reason: drover.ReasonExitCode, Message: "failed"}
			}
			ended, err := s.EndAttempt(ctx, as[0].ID, store.AttemptEnd{At: at.Add(3 * time.Second), State: drover.AttemptFailed, ExitCode: &code,
				Reason: drover.ReasonExitCode, Message: "exit", Usage: drover.Usage{PeakMemoryBytes: 1 << 20, CPUSeconds: 0.1 + 0.2},
				Phases: drover.Phases{ImagePull: drover.Duration(time.Millisecond)}},
				func(j *drover.Job, a *drover.Attempt) store.JobOutcome { return outcome })
			if err != nil {
				t.Fatal(err)
			}
			same(fmt.Sprintf("spec %d attempt %d: EndAttempt", i, n), ended)
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

// A spec served from the cache is a copy: changing what one read returned
// does not change the next read.
func TestCachedSpecsAreCopies(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "drover.db"))
	defer s.Close()
	ctx := t.Context()
	made, _, err := s.CreateJob(ctx, &drover.Job{ID: drover.NewID("job"), Spec: drover.JobSpec{Command: drover.Command{"echo", "hi"}, Env: map[string]string{"K": "v"}}, CreatedAt: time.Unix(0, 1)}, "")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the first read fills the cache, the second reads from it
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
