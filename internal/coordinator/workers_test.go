package coordinator

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover"
)

func registerNamed(ctx context.Context, c *Coordinator, name, previous string, executors ...string) (*drover.RegisterResponse, error) {
	return c.Register(ctx, drover.RegisterRequest{Name: name, Executors: executors, PreviousSecret: previous,
		Capacity: drover.Capacity{CPU: 1000, MemoryMB: 1024, Slots: 1}})
}

// A name belongs to one live worker: another registration under it is
// refused, saying which worker holds it, since when it was silent and what
// to do. A DOWN worker's name may be taken.
func TestWorkerNamesAreUniqueAmongLiveWorkers(t *testing.T) {
	ctx := context.Background()
	st, clock := reapStore(t)
	c := reapCoordinator(t, st, clock)
	first := registerOne(t, c)
	other, err := registerNamed(ctx, c, "other", "", "process")
	if err != nil {
		t.Fatal(err)
	}
	clock.Add(3 * time.Second)
	// No secret, and another worker's secret, prove nothing.
	for _, previous := range []string{"", other.Secret, first.Worker.ID + ".wrong"} {
		_, err := registerNamed(ctx, c, "w", previous, "process")
		if !drover.IsCode(err, drover.ECONFLICT) {
			t.Fatalf("a second worker named w (previous secret %q): %v, want ECONFLICT", previous, err)
		}
		for _, want := range []string{first.Worker.ID, "READY", "last heard from at 2030-01-01T00:00:00Z, 3s ago", "its own --name", "stop the other one", "10s"} {
			if !strings.Contains(drover.ErrorMessage(err), want) {
				t.Errorf("refusal %q does not say %q", drover.ErrorMessage(err), want)
			}
		}
	}
	if _, err := c.Drain(ctx, first.Worker.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := registerNamed(ctx, c, "w", "", "process"); !drover.IsCode(err, drover.ECONFLICT) || !strings.Contains(drover.ErrorMessage(err), "DRAINING") {
		t.Fatalf("the name of a DRAINING worker: %v, want ECONFLICT naming its state", err)
	}
	clock.Add(11 * time.Second)
	if err := c.Reap(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := registerNamed(ctx, c, "w", "", "process"); err != nil {
		t.Fatalf("the name of a DOWN worker: %v", err)
	}
	// The DOWN worker comes back: its name is another's now.
	if _, err := c.Heartbeat(ctx, first.Worker.ID, drover.HeartbeatRequest{}); !drover.IsCode(err, drover.ECONFLICT) {
		t.Fatalf("heartbeat of the DOWN worker whose name was taken: %v, want ECONFLICT", err)
	}
	if w, err := c.Worker(ctx, first.Worker.ID); err != nil || w.State != drover.WorkerDown {
		t.Fatalf("the DOWN worker after its refused heartbeat: %+v %v, want DOWN", w, err)
	}
}

// A worker restarted after kill -9 comes back under its name at once, while
// its earlier registration is still READY, by presenting that one's secret:
// the earlier one is removed and its jobs requeued at once, and its secret
// no longer admits anyone.
func TestRestartedWorkerReplacesItsEarlierSelf(t *testing.T) {
	ctx := context.Background()
	st, clock := reapStore(t)
	c := reapCoordinator(t, st, clock)
	old, j, att := runningOnOneWorker(t, c)
	clock.Add(time.Second)
	reg, err := registerNamed(ctx, c, "w", old.Secret, "process")
	if err != nil {
		t.Fatalf("restart with the earlier secret: %v", err)
	}
	if reg.Worker.ID == old.Worker.ID {
		t.Fatalf("the restart kept id %s; want a new registration", reg.Worker.ID)
	}
	if _, err := c.Worker(ctx, old.Worker.ID); !drover.IsCode(err, drover.ENOTFOUND) {
		t.Errorf("the earlier registration: %v, want it gone", err)
	}
	got, err := c.Job(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	a := got.Attempts[0]
	if got.State != drover.JobQueued || a.ID != att || a.Reason != drover.ReasonWorkerLost || !strings.Contains(a.Message, "restarted") {
		t.Fatalf("job %s, attempt %+v; want it requeued, its attempt lost to the restart", got.State, a)
	}
	if _, err := c.AuthWorker(ctx, old.Secret); !drover.IsCode(err, drover.EUNAUTHORIZED) {
		t.Errorf("the earlier secret after the restart: %v, want EUNAUTHORIZED", err)
	}
	// The requeued job goes to the restarted worker.
	if _, _, err := c.schedulePass(ctx); err != nil {
		t.Fatal(err)
	}
	if w, err := c.Work(ctx, reg.Worker.ID, 0, false); err != nil || len(w.Assignments) != 1 || w.Assignments[0].JobID != j.ID {
		t.Fatalf("work of the restarted worker: %+v %v", w, err)
	}
}

// A worker that heartbeats is alive, whatever secret a registration shows:
// its name is not taken from it.
func TestLiveWorkerIsNotReplaced(t *testing.T) {
	ctx := context.Background()
	st, clock := reapStore(t)
	c := reapCoordinator(t, st, clock)
	old := registerOne(t, c)
	holder, err := c.liveNamed(ctx, "w")
	if err != nil || holder == nil {
		t.Fatalf("liveNamed: %v %v", holder, err)
	}
	clock.Add(time.Second)
	if _, err := c.Heartbeat(ctx, old.Worker.ID, drover.HeartbeatRequest{}); err != nil {
		t.Fatal(err)
	}
	// Read before the heartbeat, as a registration racing it would have.
	if err := c.replace(ctx, holder); !drover.IsCode(err, drover.ECONFLICT) {
		t.Fatalf("replace of a worker heard from since: %v, want ECONFLICT", err)
	}
	if w, err := c.Worker(ctx, old.Worker.ID); err != nil || w.State != drover.WorkerReady {
		t.Fatalf("worker after a refused replace: %+v %v, want READY", w, err)
	}
}

// Evict removes a worker its operator knows is gone: its name is free and
// its job requeued at once.
func TestEvict(t *testing.T) {
	ctx := context.Background()
	st, clock := reapStore(t)
	c := reapCoordinator(t, st, clock)
	old, j, _ := runningOnOneWorker(t, c)
	if err := c.Evict(ctx, old.Worker.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Job(ctx, j.ID); got.State != drover.JobQueued || got.Attempts[0].Reason != drover.ReasonWorkerLost {
		t.Fatalf("job after its worker was evicted: %s %+v", got.State, got.Attempts[0])
	}
	if _, err := registerNamed(ctx, c, "w", "", "process"); err != nil {
		t.Fatalf("the name of an evicted worker: %v", err)
	}
}
