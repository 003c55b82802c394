package cli

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/drover-dev/drover"
)

func TestStateLine(t *testing.T) {
	names := map[string]string{"wrk_1": "box-a"}
	worker := func(id string) string {
		if n, ok := names[id]; ok {
			return n
		}
		return id
	}
	requeued := drover.StateEvent{State: drover.JobQueued, Attempt: 1, Message: "attempt 1 exited 3; retrying", PendingReason: "needs 4000m CPU"}
	for _, c := range []struct {
		name    string
		s       drover.StateEvent
		verbose bool
		want    string
	}{
		{"quiet: first queued", drover.StateEvent{State: drover.JobQueued, PendingReason: "no worker yet"}, false, ""},
		{"quiet: running", drover.StateEvent{State: drover.JobRunning, WorkerID: "wrk_1", Attempt: 1}, false, ""},
		{"quiet: requeued says why", requeued, false, "attempt 1 exited 3; retrying"},
		{"quiet: the end", drover.StateEvent{State: drover.JobFailed, Message: "exit 3"}, false, ""},

		{"verbose: queued", drover.StateEvent{State: drover.JobQueued}, true, "job_1 queued"},
		{"verbose: queued, waiting", drover.StateEvent{State: drover.JobQueued, PendingReason: "no worker yet"}, true, "job_1 queued: no worker yet"},
		{"verbose: queued with a message", drover.StateEvent{State: drover.JobQueued, Message: "submitted"}, true, "job_1 queued: submitted"},
		{"verbose: requeued says why, then what it waits for", requeued, true, "job_1 queued: attempt 1 exited 3; retrying; needs 4000m CPU"},
		{"verbose: assigned", drover.StateEvent{State: drover.JobAssigned, WorkerID: "wrk_1", Attempt: 1}, true, "job_1 assigned on box-a (attempt 1)"},
		{"verbose: running on an unknown worker", drover.StateEvent{State: drover.JobRunning, WorkerID: "wrk_9", Attempt: 2}, true, "job_1 running on wrk_9 (attempt 2)"},
		{"verbose: the end is said elsewhere", drover.StateEvent{State: drover.JobCompleted, WorkerID: "wrk_1", Attempt: 1}, true, ""},
	} {
		if got := stateLine("job_1", c.s, c.verbose, worker); got != c.want {
			t.Errorf("%s: stateLine = %q, want %q", c.name, got, c.want)
		}
	}
}

// A follower says each state change once, and says once that the
// coordinator was lost and once that it is back.
func TestFollowerSaysEachThingOnce(t *testing.T) {
	var stderr bytes.Buffer
	f := &follower{a: &app{stderr: &stderr}, server: "http://c:8080", id: "job_1", verbose: true}
	h := f.handler(t.Context())
	running := drover.StateEvent{State: drover.JobRunning}
	h.State(running)
	h.State(running)
	if !h.Disconnected(errors.New("connection refused"), 0) || !h.Disconnected(errors.New("connection refused"), time.Second) {
		t.Error("the follower gave up at once, want it to try for followGiveUp")
	}
	if h.Disconnected(errors.New("connection refused"), followGiveUp) {
		t.Error("the follower goes on past followGiveUp")
	}
	h.State(running)
	h.State(drover.StateEvent{State: drover.JobCompleted})
	want := "drover: job_1 running\n" +
		"drover: lost the coordinator at http://c:8080 (connection refused); retrying, the job goes on\n" +
		"drover: reached the coordinator at http://c:8080 again\n"
	if got := stderr.String(); got != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", got, want)
	}
}
