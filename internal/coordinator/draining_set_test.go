package coordinator_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/coordinator"
)

// A long-poll with nothing to hand over tells its worker to drain without
// reading the worker from the store: a drain wakes a waiting poll, and a
// coordinator started on a store with a DRAINING worker knows it.
func TestPollsLearnDrainsFromMemory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "drover.db")
	c := startCoordinatorOn(t, path, coordinator.Config{})
	w := register(t, c, "w", 1000, drover.ExecutorNoop)
	if resp, err := c.Work(t.Context(), w.Worker.ID, 0, false); err != nil || resp.Drain {
		t.Fatalf("Work of a READY worker = %+v, %v; want no drain", resp, err)
	}
	got := make(chan *drover.WorkResponse, 1)
	go func() {
		resp, err := c.Work(t.Context(), w.Worker.ID, time.Minute, false)
		if err != nil {
			t.Error(err)
		}
		got <- resp
	}()
	if _, err := c.Drain(t.Context(), w.Worker.ID); err != nil {
		t.Fatal(err)
	}
	if resp := <-got; resp == nil || !resp.Drain {
		t.Fatalf("waiting poll after a drain = %+v, want drain", resp)
	}
	// A worker that says it knows hears it too (its poll would wait; here
	// wait is 0).
	if resp, err := c.Work(t.Context(), w.Worker.ID, 0, true); err != nil || !resp.Drain {
		t.Errorf("Work of a draining worker that knows = %+v, %v", resp, err)
	}
	c.Stop()

	again := startCoordinatorOn(t, path, coordinator.Config{})
	if resp, err := again.Work(t.Context(), w.Worker.ID, 0, false); err != nil || !resp.Drain {
		t.Errorf("Work after a restart = %+v, %v; want drain", resp, err)
	}
}
