package e2e

import (
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/drover-dev/drover"
)

// TestRetentionRemovesFinishedJobs: a job finished longer than --retention
// ago is removed with its output at the next collection (every
// --gc-interval); a job still running, older than that, stays.
func TestRetentionRemovesFinishedJobs(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{args: []string{"--retention", "1s", "--gc-interval", "100ms"}})
	cl.worker("w1")
	ctx := ctxT(t, time.Minute)

	pidFile := filepath.Join(shared(t), "pids")
	running, err := cl.c.Submit(ctx, drover.JobSpec{Command: drover.Command{"sh", "-c", fmt.Sprintf("echo $$ >> %s; exec sleep 300", pidFile)}}, "")
	if err != nil {
		t.Fatal(err)
	}
	cl.waitJob(running.ID, 20*time.Second, "RUNNING", func(j *drover.Job) bool { return j.State == drover.JobRunning })
	pids := readPids(t, pidFile, 1, 10*time.Second)

	out, errOut, code := cl.cli(ctx, "run", "--", "echo", "kept for a second")
	if code != 0 || out != "kept for a second\n" {
		t.Fatalf("run: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	page, err := cl.c.Jobs(ctx, drover.JobFilter{States: []drover.JobState{drover.JobCompleted}})
	if err != nil || len(page.Jobs) != 1 {
		t.Fatalf("completed jobs: %+v, %v", page, err)
	}
	done := page.Jobs[0].ID

	removal := ctxT(t, 20*time.Second)
	for {
		_, err := cl.c.Job(removal, done)
		if drover.IsCode(err, drover.ENOTFOUND) {
			break
		}
		select {
		case <-removal.Done():
			t.Fatalf("job %s finished more than --retention ago is still there (%v)", done, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	cl.server.waitLine(`msg="removed old jobs" count=1 `, 10*time.Second)
	if err := cl.c.Output(ctx, done, "", io.Discard); !drover.IsCode(err, drover.ENOTFOUND) {
		t.Errorf("output of the removed job: %v, want not found", err)
	}
	j, err := cl.c.Job(ctx, running.ID)
	if err != nil || j.State != drover.JobRunning || !alive(pids[0]) {
		t.Fatalf("the running job, older than --retention: %+v, %v", j, err)
	}
	if _, err := cl.c.Cancel(ctx, running.ID); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pids, 10*time.Second)
}
