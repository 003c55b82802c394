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
