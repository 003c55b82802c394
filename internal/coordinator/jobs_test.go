package coordinator

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover"
)

// Executors are the operator's choice: a job asking for one that no
// registered worker offers is refused at submission, naming the field and
// what an operator must do; one that a registered worker offers waits, even
// while that worker is DOWN, with a pending reason saying so.
func TestSubmissionNeedsAWorkerOfferingTheExecutor(t *testing.T) {
	ctx := context.Background()
	st, clock := reapStore(t)
	c := reapCoordinator(t, st, clock)
	process := drover.JobSpec{Command: drover.Command{"true"}, Executor: drover.ExecutorProcess}
	if _, _, err := c.Submit(ctx, process, ""); err != nil {
		t.Fatalf("no worker yet: %v, want the job to wait", err)
	}
	docker, err := registerNamed(ctx, c, "d", "", drover.ExecutorDocker)
	if err != nil {
		t.Fatal(err)
	}
	clock.Add(2 * time.Second) // past what the first submission read of the fleet
	tests := []struct {
		spec        drover.JobSpec
		field, flag string
		wantRefusal bool
	}{
		{spec: process, field: "executor", flag: "--executor process", wantRefusal: true},
		{spec: drover.JobSpec{Command: drover.Command{"true"}}, field: "image", flag: "--image", wantRefusal: true},
		{spec: drover.JobSpec{Command: drover.Command{"true"}, Image: "busybox"}},
	}
	for _, tt := range tests {
		_, _, err := c.Submit(ctx, tt.spec, "")
		if !tt.wantRefusal {
			if err != nil {
				t.Errorf("%+v on a docker fleet: %v", tt.spec, err)
			}
			continue
		}
		var de *drover.Error
		if !drover.IsCode(err, drover.EUNSCHEDULABLE) || !asError(err, &de) || de.Field != tt.field || !strings.Contains(de.Message, tt.flag) {
			t.Errorf("%+v on a docker fleet: %v (field %q), want EUNSCHEDULABLE on %s saying %s", tt.spec, err, fieldOf(de), tt.field, tt.flag)
		}
	}

	// A process worker registers, then goes DOWN: a process job is
	// accepted and waits for it.
	if _, err := registerNamed(ctx, c, "p", "", drover.ExecutorProcess); err != nil {
		t.Fatal(err)
	}
	clock.Add(11 * time.Second)
	if _, err := c.Heartbeat(ctx, docker.Worker.ID, drover.HeartbeatRequest{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Reap(ctx); err != nil {
		t.Fatal(err)
	}
	j, _, err := c.Submit(ctx, process, "")
	if err != nil {
		t.Fatalf("a process job while the process worker is DOWN: %v, want it to wait", err)
	}
	if _, _, err := c.schedulePass(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := c.Job(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := "no READY worker offers executor process (p, which does, is DOWN): an operator must start a worker with --executor process"
	if got.State != drover.JobQueued || !strings.HasPrefix(got.PendingReason, want) {
		t.Errorf("job %s pending %q, want QUEUED and %q", got.State, got.PendingReason, want)
	}
}

func asError(err error, de **drover.Error) bool { return errors.As(err, de) }

func fieldOf(de *drover.Error) string {
	if de == nil {
		return ""
	}
	return de.Field
}
