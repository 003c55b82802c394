package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover-dev/drover"
)

// TestFleetRetriesBoundRequeues: --fleet-retries N lets a job that keeps
// failing for the fleet's reasons run N+1 attempts, then it fails. The
// worker is the test, speaking the worker protocol: it ends every attempt
// it is given as executor_error, as a worker with a broken engine would.
func TestFleetRetriesBoundRequeues(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 2} {
		t.Run(fmt.Sprintf("fleet-retries=%d", n), func(t *testing.T) {
			t.Parallel()
			cl := newCluster(t, serverOpt{args: []string{"--fleet-retries", fmt.Sprint(n)}})
			ctx := ctxT(t, time.Minute)
			reg, err := cl.c.Register(ctx, drover.RegisterRequest{Name: "broken", Executors: []string{drover.ExecutorProcess},
				Capacity: drover.Capacity{CPU: 1000, MemoryMB: 1024, Slots: 1}, Version: drover.Version})
			if err != nil {
				t.Fatal(err)
			}
			wc, id := cl.c.WithToken(reg.Secret), reg.Worker.ID
			hbCtx, stopHeartbeats := context.WithCancel(ctx)
			var hb sync.WaitGroup
			hb.Add(1)
			go func() {
				defer hb.Done()
				for hbCtx.Err() == nil {
					_, _ = wc.Heartbeat(hbCtx, id, drover.HeartbeatRequest{})
					select {
					case <-hbCtx.Done():
					case <-time.After(200 * time.Millisecond):
					}
				}
			}()
			defer func() { stopHeartbeats(); hb.Wait() }()

			j, err := cl.c.Submit(ctx, drover.JobSpec{Command: drover.Command{"true"}}, "")
			if err != nil {
				t.Fatal(err)
			}
			given := 0
			for !j.State.Final() {
				resp, err := wc.Work(ctx, id, 2*time.Second, false)
				if err != nil {
					t.Fatal(err)
				}
				for _, a := range resp.Assignments {
					if given++; given > n+1 {
						t.Fatalf("attempt %d given with --fleet-retries %d", given, n)
					}
					if err := wc.Finish(ctx, a.AttemptID, drover.FinishRequest{Reason: drover.ReasonExecutorError, Message: "the engine is broken"}); err != nil {
						t.Fatal(err)
					}
				}
				if j, err = cl.c.Job(ctx, j.ID); err != nil {
					t.Fatal(err)
				}
			}
			want := fmt.Sprintf("gave up after %d requeues caused by the fleet", n)
			if j.State != drover.JobFailed || j.Reason != drover.ReasonExecutorError || len(j.Attempts) != n+1 || j.FleetRetries != n ||
				!strings.Contains(j.Message, want) {
				t.Fatalf("job %s after %d attempts (fleet retries %d): %s (%s) %q; want FAILED (executor_error) after %d attempts, %q",
					j.ID, len(j.Attempts), j.FleetRetries, j.State, j.Reason, j.Message, n+1, want)
			}
		})
	}
}
