package coordinator

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/store/sqlite"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestRestartGivesWorkersTimeToReturn: a coordinator that was away longer
// than the heartbeat timeout does not fail the running jobs of workers that
// have not yet found it again; a worker that stays silent a full timeout
// after the restart is lost.
func TestRestartGivesWorkersTimeToReturn(t *testing.T) {
	ctx := context.Background()
	st, clock := reapStore(t)
	newCoord := func() *Coordinator { return reapCoordinator(t, st, clock) }
	c := newCoord()
	_, j, _ := runningOnOneWorker(t, c)

	// The coordinator is away for a minute, then starts again.
	clock.Add(time.Minute)
	c = newCoord()
	clock.Add(time.Second)
	if err := c.Reap(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Job(ctx, j.ID); got.State != drover.JobRunning {
		t.Fatalf("right after the restart the job is %s, want RUNNING", got.State)
	}
	// The worker never comes back: a heartbeat timeout after the restart
	// it is lost and the job requeued.
	clock.Add(10 * time.Second)
	if err := c.Reap(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := c.Job(ctx, j.ID)
	if got.State != drover.JobQueued || got.Attempts[0].Reason != drover.ReasonWorkerLost {
		t.Fatalf("after a silent timeout: %s, attempt %+v", got.State, got.Attempts[0])
	}
}

// A reaping round interrupted after it marked a worker DOWN leaves that
// worker's attempts active; the next round ends them without counting the
// worker as missing a second time.
func TestInterruptedReapIsFinishedNotCountedTwice(t *testing.T) {
	ctx := context.Background()
	st, clock := reapStore(t)
	c := reapCoordinator(t, st, clock)
	reg, j, _ := runningOnOneWorker(t, c)

	// The first round marked the worker DOWN and stopped there.
	clock.Add(11 * time.Second)
	if _, marked, err := st.MarkWorkerDown(ctx, reg.Worker.ID, clock.Now().Add(-10*time.Second)); err != nil || !marked {
		t.Fatalf("MarkWorkerDown: marked %v, %v", marked, err)
	}
	c.metrics.misses.Inc() // what that round counted

	if err := c.Reap(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := c.Job(ctx, j.ID)
	if got.State != drover.JobQueued || got.Attempts[0].Reason != drover.ReasonWorkerLost {
		t.Errorf("after the next round: %s, attempt %+v; want requeued, worker_lost", got.State, got.Attempts[0])
	}
	if n := c.metrics.misses.Value(); n != 1 {
		t.Errorf("heartbeat misses = %d, want 1", n)
	}
}

// runningOnOneWorker registers a one-slot worker and runs a job on it: the
// worker, the job as submitted and its attempt's id.
func runningOnOneWorker(t *testing.T, c *Coordinator) (*drover.RegisterResponse, *drover.Job, string) {
	t.Helper()
	reg := registerOne(t, c)
	j, att := runningOn(t, c, reg, drover.JobSpec{Command: drover.Command{"true"}})
	return reg, j, att
}

// registerOne registers worker "w": one slot, 1 core, 1 GiB, process.
func registerOne(t *testing.T, c *Coordinator) *drover.RegisterResponse {
	t.Helper()
	reg, err := c.Register(t.Context(), drover.RegisterRequest{Name: "w", Executors: []string{"process"}, Capacity: drover.Capacity{CPU: 1000, MemoryMB: 1024, Slots: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// runningOn submits spec and starts it on reg's worker, its only one: the
// job as submitted and its attempt's id.
func runningOn(t *testing.T, c *Coordinator, reg *drover.RegisterResponse, spec drover.JobSpec) (*drover.Job, string) {
	t.Helper()
	ctx := t.Context()
	j, _, err := c.Submit(ctx, spec, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.schedulePass(ctx); err != nil {
		t.Fatal(err)
	}
	work, err := c.Work(ctx, reg.Worker.ID, 0, false)
	if err != nil || len(work.Assignments) != 1 {
		t.Fatalf("work: %+v %v", work, err)
	}
	att := work.Assignments[0].AttemptID
	if err := c.StartAttempt(ctx, reg.Worker.ID, att, drover.StartRequest{}); err != nil {
		t.Fatal(err)
	}
	return j, att
}

// reapStore is a fresh store and a fake clock for reaper tests.
func reapStore(t *testing.T) (*sqlite.Store, *fakeClock) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "drover.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
}

// reapCoordinator is a coordinator on st with a 10 s heartbeat timeout,
// started as Start would date it but without its loops: the test reaps.
func reapCoordinator(t *testing.T, st *sqlite.Store, clock *fakeClock) *Coordinator {
	t.Helper()
	c, err := New(Config{Store: st, Clock: clock, Logger: slog.New(slog.DiscardHandler), HeartbeatInterval: time.Second, HeartbeatTimeout: 10 * time.Second, AckTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c.startedAt = clock.Now()
	return c
}

// A queued job without a reason of its own is said to wait for the
// scheduler just after it was queued, and behind the queue after that.
func TestPendingReasonOfAJobNotYetLookedAt(t *testing.T) {
	st, clock := reapStore(t)
	c := reapCoordinator(t, st, clock) // no passes run: nothing sets a reason
	j, _, err := c.Submit(t.Context(), drover.JobSpec{Command: drover.Command{"true"}}, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct {
		after  time.Duration
		reason string
	}{
		{0, "waiting for the scheduler to place it"},
		{2 * time.Second, "waiting for the scheduler to reach it"},
	} {
		clock.Add(want.after)
		got, err := c.Job(t.Context(), j.ID)
		if err != nil || got.PendingReason != want.reason {
			t.Errorf("%s after queueing: reason %q, %v; want %q", want.after, got.PendingReason, err, want.reason)
		}
	}
}

// The timeout backstop waits the grace the attempt's worker said it gives
// (here a minute), not the default 10 s: a command still in its grace
// is the worker's to stop, and its slot is not free.
func TestTimeoutBackstopWaitsTheWorkersGrace(t *testing.T) {
	ctx := context.Background()
	st, clock := reapStore(t)
	c := reapCoordinator(t, st, clock)
	reg, err := c.Register(ctx, drover.RegisterRequest{Name: "w", Executors: []string{"process"},
		Capacity: drover.Capacity{CPU: 1000, MemoryMB: 1024, Slots: 1}, Grace: drover.Duration(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	j, att := runningOn(t, c, reg, drover.JobSpec{Command: drover.Command{"sleep", "600"}, Timeout: drover.Duration(2 * time.Second)})
	// The worker heartbeats every 5 s while its command overruns.
	after := func(d time.Duration) drover.JobState {
		t.Helper()
		for end := clock.Now().Add(d); clock.Now().Before(end); {
			clock.Add(5 * time.Second)
			if _, err := c.Heartbeat(ctx, reg.Worker.ID, drover.HeartbeatRequest{Running: []string{att}}); err != nil {
				t.Fatal(err)
			}
			if err := c.Reap(ctx); err != nil {
				t.Fatal(err)
			}
		}
		got, _ := c.Job(ctx, j.ID)
		return got.State
	}
	// timeout 2s + the default grace 10s + heartbeat timeout 10s: not yet.
	if s := after(25 * time.Second); s != drover.JobRunning {
		t.Fatalf("25 s after the start the job is %s, want RUNNING (the worker's grace is a minute)", s)
	}
	// timeout 2s + the worker's grace 60s + heartbeat timeout 10s.
	if s := after(50 * time.Second); s != drover.JobFailed {
		t.Fatalf("75 s after the start the job is %s, want FAILED by the backstop", s)
	}
}

// A finish that waited out an outage of the coordinator dates the end
// when the worker says it was, not when it arrived.
func TestFinishDatedWhenTheAttemptEnded(t *testing.T) {
	ctx := context.Background()
	st, clock := reapStore(t)
	c := reapCoordinator(t, st, clock)
	reg, j, att := runningOnOneWorker(t, c)
	clock.Add(30 * time.Second)
	zero := 0
	if _, err := c.Finish(ctx, reg.Worker.ID, att, drover.FinishRequest{ExitCode: &zero, EndedAgo: drover.Duration(20 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	got, _ := c.Job(ctx, j.ID)
	want := clock.Now().Add(-20 * time.Second)
	if got.State != drover.JobCompleted || got.CompletedAt == nil || !got.CompletedAt.Equal(want) || !got.Attempts[0].FinishedAt.Equal(want) {
		t.Fatalf("job %s completed at %v (attempt %v), want %v", got.State, got.CompletedAt, got.Attempts[0].FinishedAt, want)
	}
}

// A lost worker's attempt ran, as far as anyone knows, until its last
// heartbeat: that is its running phase, not the time until it was given up.
func TestLostAttemptRanUntilLastHeartbeat(t *testing.T) {
	ctx := context.Background()
	st, clock := reapStore(t)
	c := reapCoordinator(t, st, clock)
	reg, j, att := runningOnOneWorker(t, c)
	clock.Add(3 * time.Second)
	if _, err := c.Heartbeat(ctx, reg.Worker.ID, drover.HeartbeatRequest{Running: []string{att}}); err != nil {
		t.Fatal(err)
	}
	clock.Add(11 * time.Second)
	if err := c.Reap(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := c.Job(ctx, j.ID)
	a := got.Attempts[0]
	if a.Reason != drover.ReasonWorkerLost || a.Phases.Running.D() != 3*time.Second {
		t.Fatalf("lost attempt: reason %s, ran %s; want worker_lost after 3s", a.Reason, a.Phases.Running)
	}
}

// A DOWN worker cannot be drained: it runs nothing, and the answer must not
// claim a state it does not keep.
func TestDrainOfADownWorkerIsRefused(t *testing.T) {
	ctx := context.Background()
	st, clock := reapStore(t)
	c := reapCoordinator(t, st, clock)
	reg, _, _ := runningOnOneWorker(t, c)
	clock.Add(11 * time.Second)
	if err := c.Reap(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := c.Drain(ctx, reg.Worker.ID)
	if !drover.IsCode(err, drover.ECONFLICT) || !strings.Contains(err.Error(), "is DOWN") {
		t.Fatalf("Drain of a DOWN worker = %v, want a conflict saying it is DOWN", err)
	}
	if w, _ := c.Worker(ctx, reg.Worker.ID); w.State != drover.WorkerDown {
		t.Errorf("worker state %s after a refused drain, want DOWN", w.State)
	}
}

// A finish dated before its attempt started (a worker's clock or memory)
// ends the attempt at its start, and a retry's backoff counts from there:
// the job does not come back at once, and not before it was queued.
func TestRetryBackoffFromAnEndDatedTooEarly(t *testing.T) {
	ctx := context.Background()
	st, clock := reapStore(t)
	c := reapCoordinator(t, st, clock)
	reg := registerOne(t, c)
	j, att := runningOn(t, c, reg, drover.JobSpec{Command: drover.Command{"false"}, MaxRetries: 3})
	clock.Add(time.Second)
	if _, err := c.Finish(ctx, reg.Worker.ID, att, drover.FinishRequest{ExitCode: new(int(1)), EndedAgo: drover.Duration(30 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	got, err := c.Job(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	a := got.Attempts[0]
	if got.State != drover.JobQueued || got.NotBefore == nil || a.StartedAt == nil || !a.FinishedAt.Equal(*a.StartedAt) ||
		got.NotBefore.Before(*a.FinishedAt) || got.QueuedAt == nil || got.NotBefore.Before(*got.QueuedAt) {
		t.Fatalf("job %s, queued %v, not before %v; attempt %v–%v: want the attempt ended at its start and the retry after both",
			got.State, got.QueuedAt, got.NotBefore, a.StartedAt, a.FinishedAt)
	}
}

// An assignment says how long is left to acknowledge it; one whose window
// is over says a millisecond, never nothing (which reads as "not said").
func TestAssignmentsSayTheirAckWindow(t *testing.T) {
	ctx := context.Background()
	st, clock := reapStore(t)
	c := reapCoordinator(t, st, clock)
	reg, err := c.Register(ctx, drover.RegisterRequest{Name: "w", Executors: []string{"process"}, Capacity: drover.Capacity{CPU: 1000, MemoryMB: 1024, Slots: 2}})
	if err != nil {
		t.Fatal(err)
	}
	take := func() drover.Assignment {
		t.Helper()
		if _, _, err := c.Submit(ctx, drover.JobSpec{Command: drover.Command{"true"}}, ""); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.schedulePass(ctx); err != nil {
			t.Fatal(err)
		}
		clock.Add(2 * time.Second)
		work, err := c.Work(ctx, reg.Worker.ID, 0, false)
		if err != nil || len(work.Assignments) != 1 {
			t.Fatalf("work: %+v %v", work, err)
		}
		return work.Assignments[0]
	}
	if a := take(); a.AckWithin.D() != 3*time.Second { // 5 s window, 2 s gone
		t.Errorf("ackWithin %s, want 3s", a.AckWithin)
	}
	// A window shorter than the wait before delivery.
	c.cfg.AckTimeout = time.Second
	a2 := take()
	if a2.AckWithin.D() != time.Millisecond {
		t.Errorf("ackWithin of an assignment past its window: %s, want 1ms", a2.AckWithin)
	}
}

// A worker's finish message is stored cut to a bound, at a character
// boundary, saying how long it was.
func TestFinishMessageIsBounded(t *testing.T) {
	ctx := context.Background()
	st, clock := reapStore(t)
	c := reapCoordinator(t, st, clock)
	reg, j, att := runningOnOneWorker(t, c)
	one := 1
	msg := "é" + strings.Repeat("x", 1<<20)
	if _, err := c.Finish(ctx, reg.Worker.ID, att, drover.FinishRequest{ExitCode: &one, Message: msg}); err != nil {
		t.Fatal(err)
	}
	got, _ := c.Job(ctx, j.ID)
	m := got.Attempts[0].Message
	if len(m) > maxMessageLen+64 || !strings.HasPrefix(m, "éxxx") || !strings.HasSuffix(m, "(1048578 bytes in all)") {
		t.Fatalf("stored message of %d bytes: %q…%q", len(m), m[:min(len(m), 20)], m[max(0, len(m)-40):])
	}
	if clipMessage("short") != "short" {
		t.Fatal("a short message is kept as it is")
	}
}
