package e2e

import (
	"fmt"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/drover-dev/drover"
)

// The worker's side of fencing: an attempt the coordinator no longer counts
// as the worker's is killed by the worker, whichever answer tells it so.
// The heartbeat's stop list would catch each of them a moment later, so
// each test also checks which answer stopped the attempt: the worker says
// "stopped an attempt that is no longer current" only when a refusal
// (409, 401) cancelled it, not when a stop list did.

// staleLine is the worker's log line of an attempt cancelled because an
// answer said it is no longer current.
func staleLine(attemptID string) string {
	return `msg="stopped an attempt that is no longer current".* attempt=` + regexp.QuoteMeta(attemptID)
}

// runningJob submits script and waits until it runs and has written n pids
// to pidFile; it returns the job, its attempt and the pids.
func runningJob(t *testing.T, cl *cluster, script, pidFile string, n int) (*drover.Job, string, []int) {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	j, err := cl.c.Submit(ctx, drover.JobSpec{Command: drover.Command{"sh", "-c", script}}, "")
	if err != nil {
		t.Fatal(err)
	}
	j = cl.waitJob(j.ID, 20*time.Second, "RUNNING", func(j *drover.Job) bool { return j.State == drover.JobRunning })
	pids := readPids(t, pidFile, n, 10*time.Second)
	return j, j.Attempts[0].ID, pids
}

// silentJob starts a child, writes its own pid and the child's, and then
// says nothing: once its start is reported, the coordinator hears of its
// attempt only through the worker's heartbeats.
func silentJob(pidFile string) string {
	return fmt.Sprintf("sleep 300 & echo $$ $! >> %s; wait", pidFile)
}

// waitLost waits until the job's attempt ended as lost with its worker
// (the servers of these tests have --fleet-retries 0: the job fails).
func waitLost(t *testing.T, cl *cluster, id string) {
	t.Helper()
	cl.waitJob(id, 20*time.Second, "FAILED as worker_lost", func(j *drover.Job) bool {
		return j.State == drover.JobFailed && j.Reason == drover.ReasonWorkerLost
	})
}

// TestFencingStaleOutputStopsTheJob: a worker cut off (its calls hang)
// until the coordinator found it lost still runs the attempt and posts its
// output when the link comes back. The 409 that answers the post makes
// the worker kill the job. The heartbeat interval is long, so the post is
// answered well before the next heartbeat's stop list could say the same.
func TestFencingStaleOutputStopsTheJob(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{args: []string{"--heartbeat-interval", "1s", "--heartbeat-timeout", "3s", "--fleet-retries", "0"}})
	px := newProxy(t, cl.url)
	w, _ := cl.worker("w1", "--server", px.url())
	pidFile := filepath.Join(shared(t), "pids")
	j, att, pids := runningJob(t, cl, fmt.Sprintf("sleep 300 & echo $$ $! >> %s; while :; do echo tick; sleep 0.05; done", pidFile), pidFile, 2)

	px.hold()
	waitLost(t, cl, j.ID)
	// The held calls fail at once and new ones get through: the output
	// post is retried within its first backoff, the heartbeat only after
	// its interval.
	px.refuse()
	px.heal()
	w.waitLine(staleLine(att), 20*time.Second)
	waitGone(t, pids, 10*time.Second)
}

// TestFencingBackAfterDownStopsTheJob: a worker whose link was refused
// until the coordinator found it lost is told, by its first heartbeat
// back, to stop the attempt it still runs.
func TestFencingBackAfterDownStopsTheJob(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{fastReap: true, args: []string{"--fleet-retries", "0"}})
	px := newProxy(t, cl.url)
	w, _ := cl.worker("w1", "--server", px.url())
	pidFile := filepath.Join(shared(t), "pids")
	j, _, pids := runningJob(t, cl, silentJob(pidFile), pidFile, 2)

	px.refuse()
	waitLost(t, cl, j.ID)
	if !alive(pids[0]) || !alive(pids[1]) {
		t.Fatal("the job died while its worker was cut off: it must run on until the worker hears")
	}
	px.heal()
	waitGone(t, pids, 10*time.Second)
	// It was the stop list: no refusal cancelled the attempt.
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, l := range w.lines {
		if regexp.MustCompile(staleLine(j.Attempts[0].ID)).MatchString(l) {
			t.Fatalf("the attempt was stopped by a refusal, not by the heartbeat's stop list: %s", l)
		}
	}
}

// TestFencingForgottenWorkerStopsTheJob: a coordinator whose data was reset
// does not know the worker (401 to its heartbeat). The worker kills what
// it runs, all of it stale, and registers again.
func TestFencingForgottenWorkerStopsTheJob(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{})
	w, id := cl.worker("w1")
	pidFile := filepath.Join(shared(t), "pids")
	_, att, pids := runningJob(t, cl, silentJob(pidFile), pidFile, 2)

	cl.server.kill()
	cl.data = t.TempDir()
	cl.startServer(serverOpt{})
	w.waitLine(`msg="coordinator does not know this worker; registering again"`, 20*time.Second)
	w.waitLine(staleLine(att), 20*time.Second)
	waitGone(t, pids, 10*time.Second)
	// It goes on as a worker of the new coordinator.
	ctx := ctxT(t, 20*time.Second)
	for {
		ws, err := cl.c.Workers(ctx)
		if err == nil && len(ws) == 1 && ws[0].Name == "w1" && ws[0].ID != id {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the worker did not register with the new coordinator: %+v, %v", ws, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestFencingNameTakenStopsTheJob: a worker found DOWN whose name another
// worker took meanwhile is answered 409 when it comes back. It kills what
// it runs and stops.
func TestFencingNameTakenStopsTheJob(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{fastReap: true, args: []string{"--fleet-retries", "0"}})
	px := newProxy(t, cl.url)
	w, _ := cl.worker("w1", "--server", px.url())
	pidFile := filepath.Join(shared(t), "pids")
	j, att, pids := runningJob(t, cl, silentJob(pidFile), pidFile, 2)

	px.refuse()
	waitLost(t, cl, j.ID)
	cl.worker("w1") // the name is free once its holder is DOWN
	px.heal()
	w.waitLine(staleLine(att), 20*time.Second)
	waitGone(t, pids, 10*time.Second)
	if code := w.exitCode(20 * time.Second); code == 0 {
		t.Fatal("the worker whose name was taken exited 0")
	}
}
