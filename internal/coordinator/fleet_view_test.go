package coordinator_test

import (
	"testing"

	"github.com/drover-dev/drover"
)

// A job the workers seen a moment ago could not hold is refused only after
// the workers are read again: one registered since may hold it.
func TestSubmissionRefusalReadsWorkersAgain(t *testing.T) {
	c := newCoordinator(t)
	ctx := t.Context()
	register(t, c, "small", 1000, drover.ExecutorNoop)
	if _, _, err := c.Submit(ctx, drover.JobSpec{Command: drover.Command{"true"}}, ""); err != nil {
		t.Fatal(err)
	}
	big := drover.JobSpec{Command: drover.Command{"true"}, Resources: drover.Resources{CPU: 4000}}
	if _, _, err := c.Submit(ctx, big, ""); !drover.IsCode(err, drover.EUNSCHEDULABLE) {
		t.Fatalf("4 CPUs on a 1-CPU fleet: %v, want EUNSCHEDULABLE", err)
	}
	register(t, c, "big", 8000, drover.ExecutorNoop)
	if _, _, err := c.Submit(ctx, big, ""); err != nil {
		t.Errorf("4 CPUs once an 8-CPU worker registered: %v", err)
	}
}
