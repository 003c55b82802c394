package e2e

import (
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/drover-dev/drover"
)

// drover run's first Ctrl-C cancels its job, and the follow goes on to the
// job's end. A second Ctrl-C leaves at once while the cancellation goes
// on.
func TestRunInterruptedCancelsThenLeaves(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{})
	cl.worker("w1", "--grace", "1m")

	// A job that stops on SIGTERM ends CANCELLED, and drover run with it.
	run := start(t, "run", cl.env, "run", "-v", "--", "sleep", "300")
	run.waitLine(`running on w1 \(attempt 1\)`, 30*time.Second)
	run.signal(syscall.SIGINT)
	id := run.waitLine(`drover: cancelling (\S+) \(Ctrl-C again to leave it\)`, 30*time.Second)[1]
	run.waitLine(regexp.QuoteMeta(id)+` was cancelled`, 30*time.Second)
	run.wait(30 * time.Second)
	if code := run.cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("drover run cancelled by Ctrl-C exited %d, want 130", code)
	}

	// A job that ignores SIGTERM takes the worker's grace to stop. A
	// second Ctrl-C does not wait for it.
	pidFile := filepath.Join(shared(t), "pid")
	run = start(t, "run", cl.env, "run", "-v", "--", "sh", "-c", "trap '' TERM; sleep 300 & echo $! > "+pidFile+"; wait")
	run.waitLine(`running on w1 \(attempt 1\)`, 30*time.Second)
	// The sleep ignores SIGTERM and outlives the worker the cluster stops
	// at the end: the test kills it itself.
	pids := readPids(t, pidFile, 1, 30*time.Second)
	t.Cleanup(func() { _ = syscall.Kill(pids[0], syscall.SIGKILL) })
	run.signal(syscall.SIGINT)
	id = run.waitLine(`drover: cancelling (\S+) \(Ctrl-C again to leave it\)`, 30*time.Second)[1]
	run.signal(syscall.SIGINT)
	run.waitLine(`stopped following `+regexp.QuoteMeta(id)+`; its cancellation goes on`, 30*time.Second)
	run.wait(30 * time.Second)
	if code := run.cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("drover run left by a second Ctrl-C exited %d, want 130", code)
	}
	// The job waits out its grace: still running, its cancellation asked.
	j, err := cl.c.Job(ctxT(t, time.Minute), id)
	if err != nil || j.State != drover.JobRunning || j.CancelRequestedAt == nil {
		t.Errorf("job after drover run left: %+v, %v; want it RUNNING with its cancellation requested", j, err)
	}
}
