package coordinator_test

import (
	"testing"

	"github.com/drover-dev/drover"
)

// A remembered secret never lets a wrong secret or a worker that left
// through.
func TestRememberedWorkerSecrets(t *testing.T) {
	c := newCoordinator(t)
	ctx := t.Context()
	a := register(t, c, "a", 1000, drover.ExecutorNoop)
	b := register(t, c, "b", 1000, drover.ExecutorProcess)
	for range 2 { // the second time from memory
		if id, err := c.AuthWorker(ctx, a.Secret); err != nil || id != a.Worker.ID {
			t.Fatalf("AuthWorker(a) = %q, %v", id, err)
		}
	}
	if _, err := c.AuthWorker(ctx, a.Worker.ID+".wrong"); !drover.IsCode(err, drover.EUNAUTHORIZED) {
		t.Errorf("wrong secret for a remembered worker: %v, want EUNAUTHORIZED", err)
	}

	if id, err := c.AuthWorker(ctx, b.Secret); err != nil || id != b.Worker.ID {
		t.Fatalf("AuthWorker(b) = %q, %v", id, err)
	}
	if err := c.Deregister(ctx, b.Worker.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AuthWorker(ctx, b.Secret); !drover.IsCode(err, drover.EUNAUTHORIZED) {
		t.Errorf("secret of a worker that left: %v, want EUNAUTHORIZED", err)
	}
}
