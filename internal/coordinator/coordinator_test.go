package coordinator_test

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/coordinator"
	"github.com/drover-dev/drover/internal/store/sqlite"
)

// newCoordinator is a coordinator on a fresh store.
// It is not started, so no loop runs.
func newCoordinator(t *testing.T) *coordinator.Coordinator {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "drover.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c, err := coordinator.New(coordinator.Config{Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// register registers a worker with two slots, 1 GiB and one executor.
func register(t *testing.T, c *coordinator.Coordinator, name string, cpu int64, executor string) *drover.RegisterResponse {
	t.Helper()
	r, err := c.Register(t.Context(), drover.RegisterRequest{Name: name, Executors: []string{executor},
		Capacity: drover.Capacity{CPU: cpu, MemoryMB: 1024, Slots: 2}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// startCoordinator starts a coordinator configured by cfg on a fresh store;
// it stops when the test ends.
func startCoordinator(t *testing.T, cfg coordinator.Config) *coordinator.Coordinator {
	t.Helper()
	return startCoordinatorOn(t, filepath.Join(t.TempDir(), "drover.db"), cfg)
}

// startCoordinatorOn is startCoordinator on the store file at path, which
// may hold a previous coordinator's data.
func startCoordinatorOn(t *testing.T, path string, cfg coordinator.Config) *coordinator.Coordinator {
	t.Helper()
	st, err := sqlite.Open(t.Context(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg.Store, cfg.Logger = st, slog.New(slog.DiscardHandler)
	c, err := coordinator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c
}

// movingClock is a clock a test moves.
type movingClock struct{ ns atomic.Int64 }

func (c *movingClock) Now() time.Time { return time.Unix(0, c.ns.Load()).UTC() }

// A start a worker held back is dated when the command started, not when
// the report arrived.
func TestStartIsDatedByHowLongTheCommandRan(t *testing.T) {
	clock := &movingClock{}
	clock.ns.Store(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC).UnixNano())
	c := startCoordinator(t, coordinator.Config{Clock: clock})
	ctx := t.Context()
	w := register(t, c, "a", 1000, drover.ExecutorNoop)
	j, _, err := c.Submit(ctx, drover.JobSpec{Command: drover.Command{"true"}, Executor: drover.ExecutorNoop}, "")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Work(ctx, w.Worker.ID, time.Minute, false)
	if err != nil || len(resp.Assignments) != 1 {
		t.Fatalf("Work = %+v, %v", resp, err)
	}
	clock.ns.Add(int64(time.Second)) // the report comes a second after the assignment
	now := clock.Now()
	if err := c.StartAttempt(ctx, w.Worker.ID, resp.Assignments[0].AttemptID,
		drover.StartRequest{Running: drover.Duration(8 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	got, err := c.Job(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Add(-8 * time.Millisecond); got.StartedAt == nil || !got.StartedAt.Equal(want) {
		t.Fatalf("startedAt = %v, want %v (8 ms before the report)", got.StartedAt, want)
	}
}

// New jobs are let go by a pass only while the fleet is full; a job
// submitted once the fleet has room again (here after the queue emptied)
// is placed at once, not at the next safety-net sweep.
func TestNewJobsArePlacedOnceTheFleetHasRoom(t *testing.T) {
	c := startCoordinator(t, coordinator.Config{SweepInterval: time.Hour})
	ctx := t.Context()
	r, err := c.Register(ctx, drover.RegisterRequest{Name: "one", Executors: []string{drover.ExecutorNoop},
		Capacity: drover.Capacity{CPU: 1000, MemoryMB: 1024, Slots: 1}})
	if err != nil {
		t.Fatal(err)
	}
	spec := drover.JobSpec{Command: drover.Command{"true"}, Executor: drover.ExecutorNoop}
	work := func() string {
		t.Helper()
		resp, err := c.Work(ctx, r.Worker.ID, 10*time.Second, false)
		if err != nil || len(resp.Assignments) != 1 {
			t.Fatalf("Work = %+v, %v; want one assignment", resp, err)
		}
		return resp.Assignments[0].AttemptID
	}
	finish := func(attemptID string) {
		t.Helper()
		if _, err := c.Finish(ctx, r.Worker.ID, attemptID, drover.FinishRequest{ExitCode: new(int), Started: true}); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 { // the fleet full, then the queue empty, each time
		if _, _, err := c.Submit(ctx, spec, ""); err != nil {
			t.Fatal(err)
		}
		a := work()
		// Submitted while the only slot is taken: waits for the finish.
		if _, _, err := c.Submit(ctx, spec, ""); err != nil {
			t.Fatal(err)
		}
		finish(a)
		finish(work())
	}
}

// A worker that leaves with an assignment it never started sends the job
// back to the queue without using a fleet retry, however often that
// happens: nothing of the job ran.
func TestWorkerLeavingBeforeStartUsesNoFleetRetry(t *testing.T) {
	c := startCoordinator(t, coordinator.Config{FleetRetries: 1})
	ctx := t.Context()
	j, _, err := c.Submit(ctx, drover.JobSpec{Command: drover.Command{"true"}, Executor: drover.ExecutorNoop}, "")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		w := register(t, c, fmt.Sprintf("w%d", i), 1000, drover.ExecutorNoop)
		resp, err := c.Work(ctx, w.Worker.ID, time.Minute, false)
		if err != nil || len(resp.Assignments) != 1 {
			t.Fatalf("Work = %+v, %v", resp, err)
		}
		if err := c.Deregister(ctx, w.Worker.ID); err != nil {
			t.Fatal(err)
		}
		got, err := c.Job(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != drover.JobQueued || got.FleetRetries != 0 || len(got.Attempts) != i+1 ||
			got.Reason != drover.ReasonNotAcknowledged || !strings.Contains(got.Message, "the worker left before starting it; requeued") {
			t.Fatalf("after worker %d left: state %s, fleet retries %d, %d attempts, %s %q; want QUEUED, 0, %d, not_acknowledged",
				i, got.State, got.FleetRetries, len(got.Attempts), got.Reason, got.Message, i+1)
		}
	}
}

// A worker that hands an assignment back unstarted (it began to drain as
// the assignment came) requeues the job without using a fleet retry; one
// it had acknowledged counts as usual.
func TestHandedBackUnstartedUsesNoFleetRetry(t *testing.T) {
	c := startCoordinator(t, coordinator.Config{FleetRetries: 1})
	ctx := t.Context()
	j, _, err := c.Submit(ctx, drover.JobSpec{Command: drover.Command{"true"}, Executor: drover.ExecutorNoop}, "")
	if err != nil {
		t.Fatal(err)
	}
	w := register(t, c, "w", 1000, drover.ExecutorNoop)
	handBack := func(accept bool) *drover.Job {
		t.Helper()
		resp, err := c.Work(ctx, w.Worker.ID, time.Minute, false)
		if err != nil || len(resp.Assignments) != 1 {
			t.Fatalf("Work = %+v, %v", resp, err)
		}
		id := resp.Assignments[0].AttemptID
		if accept {
			if err := c.Accept(ctx, w.Worker.ID, id); err != nil {
				t.Fatal(err)
			}
		}
		got, err := c.Finish(ctx, w.Worker.ID, id, drover.FinishRequest{Reason: drover.ReasonNotAcknowledged, Message: "worker w is draining"})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	for range 2 {
		if got := handBack(false); got.State != drover.JobQueued || got.FleetRetries != 0 {
			t.Fatalf("handed back unstarted: state %s, fleet retries %d; want QUEUED, 0", got.State, got.FleetRetries)
		}
	}
	if got := handBack(true); got.State != drover.JobQueued || got.FleetRetries != 1 {
		t.Fatalf("handed back once acknowledged: state %s, fleet retries %d; want QUEUED, 1", got.State, got.FleetRetries)
	}
	if got, _ := c.Job(ctx, j.ID); len(got.Attempts) != 3 {
		t.Errorf("%d attempts, want 3", len(got.Attempts))
	}
}
