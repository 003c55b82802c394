package sqlite

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/store"
)

// CreateJob and EndAttempt return jobs they assemble partly without
// reading them back; each must equal what GetJob then reads.
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
	for i, spec := range specs {
		made, _, err := s.CreateJob(ctx, &drover.Job{ID: drover.NewID("job"), Spec: spec, CreatedAt: at}, "")
		if err != nil {
			t.Fatal(err)
		}
		read, err := s.GetJob(ctx, made.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(made, read) {
			t.Errorf("spec %d: CreateJob returned\n%#v\nGetJob reads\n%#v", i, made, read)
		}
		as, err := s.Assign(ctx, at, []store.Placement{{JobID: made.ID, WorkerID: w.ID, AttemptID: drover.NewID("att")}})
		if err != nil || len(as) != 1 {
			t.Fatal(as, err)
		}
		if _, err := s.StartAttempt(ctx, as[0].ID, at, time.Second, 0); err != nil {
			t.Fatal(err)
		}
		code := i
		ended, err := s.EndAttempt(ctx, as[0].ID, store.AttemptEnd{At: at.Add(time.Second), State: drover.AttemptFailed, ExitCode: &code, Reason: drover.ReasonExitCode},
			func(j *drover.Job, a *drover.Attempt) store.JobOutcome {
				return store.JobOutcome{State: drover.JobFailed, ExitCode: a.ExitCode, Reason: a.Reason, Message: "failed"}
			})
		if err != nil {
			t.Fatal(err)
		}
		read, err = s.GetJob(ctx, made.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(ended, read) {
			t.Errorf("spec %d: EndAttempt returned\n%#v\nGetJob reads\n%#v", i, ended, read)
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
