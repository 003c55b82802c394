package coordinator_test

import (
	"testing"
	"time"

	"github.com/drover-dev/drover"
)

// A remembered attempt owner never lets another worker's call through.
func TestRememberedAttemptOwners(t *testing.T) {
	c := newCoordinator(t)
	ctx := t.Context()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	a := register(t, c, "a", 1000, drover.ExecutorNoop)
	b := register(t, c, "b", 1000, drover.ExecutorProcess)

	// Only a runs noop jobs; its long-poll returns with the assignment.
	if _, _, err := c.Submit(ctx, drover.JobSpec{Command: drover.Command{"true"}, Executor: drover.ExecutorNoop}, ""); err != nil {
		t.Fatal(err)
	}
	resp, err := c.Work(ctx, a.Worker.ID, time.Minute, false)
	if err != nil || len(resp.Assignments) != 1 {
		t.Fatalf("Work = %+v, %v", resp, err)
	}
	attemptID := resp.Assignments[0].AttemptID
	for range 2 { // the second time from memory
		if err := c.StartAttempt(ctx, b.Worker.ID, attemptID, drover.StartRequest{}); !drover.IsCode(err, drover.EFORBIDDEN) {
			t.Errorf("start by another worker: %v, want EFORBIDDEN", err)
		}
	}
	if err := c.StartAttempt(ctx, a.Worker.ID, attemptID, drover.StartRequest{}); err != nil {
		t.Errorf("start by its worker: %v", err)
	}
}
