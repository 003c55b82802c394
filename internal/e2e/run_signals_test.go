package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/drover-dev/drover"
)

// drover run's own paths, with the CLI as a process of its own that the
// test sends signals to, as a terminal sends Ctrl-C. The first and second
// Ctrl-C during the follow are TestRunInterruptedCancelsThenLeaves's.

// lockedBuffer is a bytes.Buffer a process writes while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startCLI starts a CLI command that talks to the coordinator at server.
// Its stderr lines can be waited for; its stdout is kept.
func startCLI(t *testing.T, server string, args ...string) (*proc, *lockedBuffer) {
	t.Helper()
	out := &lockedBuffer{}
	return startOut(t, "drover "+args[0], []string{"DROVER_SERVER=" + server}, out, args...), out
}

// waitSignalTaken waits until the process has taken the signals sent to
// it: none is pending any more. Go hands a taken SIGINT to the program at
// once.
func waitSignalTaken(t *testing.T, p *proc) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
		if err != nil {
			return // exited
		}
		pending := false
		for _, line := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(line, ":")
			if k == "ShdPnd" || k == "SigPnd" {
				n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
				pending = pending || err != nil || n != 0
			}
		}
		if !pending {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has signals pending after 10s", p.name)
		}
		time.Sleep(time.Millisecond)
	}
}

// onlyJob returns the cluster's one job.
func onlyJob(t *testing.T, cl *cluster) *drover.Job {
	t.Helper()
	page, err := cl.c.Jobs(ctxT(t, 10*time.Second), drover.JobFilter{})
	if err != nil || len(page.Jobs) != 1 {
		t.Fatalf("jobs: %+v, %v; want one", page, err)
	}
	return &page.Jobs[0]
}

// TestRunDetachLeavesTheJobRunning: drover run --detach prints the job id
// and returns; the job runs on.
func TestRunDetachLeavesTheJobRunning(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{})
	cl.worker("w1")
	pidFile := filepath.Join(shared(t), "pids")
	ctx := ctxT(t, 30*time.Second)
	out, errOut, code := cl.cli(ctx, "run", "--detach", "--", "sh", "-c", fmt.Sprintf("echo $$ >> %s; exec sleep 300", pidFile))
	id := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(id, "job_") || strings.Contains(id, "\n") {
		t.Fatalf("run --detach: exit %d, stdout %q, stderr %q; want 0 and the job id", code, out, errOut)
	}
	cl.waitJob(id, 20*time.Second, "RUNNING", func(j *drover.Job) bool { return j.State == drover.JobRunning })
	pids := readPids(t, pidFile, 1, 10*time.Second)
	if !alive(pids[0]) {
		t.Fatal("the detached job's command is not running")
	}
	if _, err := cl.c.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pids, 10*time.Second)
}

// TestRunCtrlCWhileSubmittingCancelsTheJob: Ctrl-C while the submission
// is on its way does not cut it short (the coordinator may take it); once
// the job exists it is cancelled, and run exits 130. The proxy holds the
// submission until the CLI has taken the signal.
func TestRunCtrlCWhileSubmittingCancelsTheJob(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{})
	px := newProxy(t, cl.url)
	px.hold()
	run, _ := startCLI(t, px.url(), "run", "--", "sleep", "300")
	px.waitHeld(1, 20*time.Second)

	run.signal(syscall.SIGINT)
	waitSignalTaken(t, run)
	px.heal()
	if code := run.exitCode(20 * time.Second); code != 130 {
		t.Fatalf("drover run exited %d after Ctrl-C while submitting, want 130", code)
	}
	j := onlyJob(t, cl)
	if j.State != drover.JobCancelled {
		t.Fatalf("job after Ctrl-C while submitting: %s, want CANCELLED", j.State)
	}
	run.waitLine(`^drover: `+j.ID+` was cancelled$`, time.Second)
}

// TestRunGivesUpOnLostCoordinator: a coordinator away for longer than
// --patience ends drover run with 125 and the command that picks the job
// up again; the job goes on.
func TestRunGivesUpOnLostCoordinator(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{})
	cl.worker("w1")
	px := newProxy(t, cl.url)
	pidFile := filepath.Join(shared(t), "pids")
	run, _ := startCLI(t, px.url(), "run", "--patience", "1s", "--", "sh", "-c", fmt.Sprintf("echo $$ >> %s; echo started >&2; exec sleep 300", pidFile))
	run.waitLine(`^started$`, 20*time.Second)
	pids := readPids(t, pidFile, 1, 10*time.Second)

	px.refuse()
	run.waitLine(`^drover: lost the coordinator at `+px.url()+` .*; retrying, the job goes on$`, 10*time.Second)
	if code := run.exitCode(30 * time.Second); code != 125 {
		t.Fatalf("drover run exited %d once the coordinator was away past --patience, want 125", code)
	}
	id := run.waitLine(`^drover: the job may still run: follow it with drover logs -f (job_\S+)$`, time.Second)[1]
	j, err := cl.c.Job(ctxT(t, 10*time.Second), id)
	if err != nil || j.State != drover.JobRunning || !alive(pids[0]) {
		t.Fatalf("job after run gave up: %+v, %v; want it RUNNING", j, err)
	}
	if _, err := cl.c.Cancel(ctxT(t, 10*time.Second), id); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pids, 10*time.Second)
}
