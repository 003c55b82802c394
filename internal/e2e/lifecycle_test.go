package e2e

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/client"
)

func TestRunSuccessAndExitCodes(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{})
	cl.worker("w1")
	ctx := ctxT(t, time.Minute)

	out, errOut, code := cl.cli(ctx, "run", "--", "sh", "-c", "echo hello")
	if code != 0 || out != "hello\n" {
		t.Fatalf("run echo: code %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, errOut, code = cl.cli(ctx, "run", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
	if code != 3 || out != "out\n" || !strings.Contains(errOut, "err\n") || strings.Contains(out, "err") {
		t.Fatalf("run exit 3: code %d, stdout %q, stderr %q", code, out, errOut)
	}
	// A command that cannot be run ends as a shell ends it, at once: 127
	// when missing, 126 when not executable, the reason on stderr, one
	// attempt (the job's failure, not the fleet's).
	for _, c := range []struct {
		argv []string
		code int
		msg  string
	}{
		{[]string{"drover-no-such-command", "x"}, 127, "drover: command not found: drover-no-such-command (PATH="},
		{[]string{"/etc"}, 126, "drover: cannot run /etc: it is a directory"},
	} {
		out, errOut, code = cl.cli(ctx, append([]string{"run", "--"}, c.argv...)...)
		if code != c.code || out != "" || !strings.Contains(errOut, c.msg) {
			t.Fatalf("run %q: code %d, stdout %q, stderr %q; want %d and %q", c.argv, code, out, errOut, c.code, c.msg)
		}
	}
	out, _, _ = cl.cli(ctx, "submit", "--", "drover-no-such-command")
	j := cl.waitJob(strings.TrimSpace(out), 20*time.Second, "FAILED", func(j *drover.Job) bool { return j.State.Final() })
	if j.State != drover.JobFailed || j.Reason != drover.ReasonExitCode || j.ExitCode == nil || *j.ExitCode != 127 ||
		len(j.Attempts) != 1 || j.FleetRetries != 0 || !strings.HasPrefix(j.Message, "command not found: drover-no-such-command") {
		t.Fatalf("missing command: want FAILED exit_code 127 after one attempt with the reason; got %+v", j)
	}
	// A single argument with shell syntax runs under sh -c.
	out, _, code = cl.cli(ctx, "run", "echo a | tr a b")
	if code != 0 || out != "b\n" {
		t.Fatalf("run shell string: code %d, stdout %q", code, out)
	}
	// submit prints only the id; status --json has the API's fields.
	out, _, code = cl.cli(ctx, "submit", "--name", "later", "--", "sh", "-c", "exit 0")
	id := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(id, "job_") || strings.Contains(id, "\n") {
		t.Fatalf("submit: code %d, stdout %q", code, out)
	}
	j = cl.waitJob(id, 20*time.Second, "COMPLETED", func(j *drover.Job) bool { return j.State == drover.JobCompleted })
	if len(j.Attempts) != 1 || j.Attempts[0].WorkerID == "" || j.StartedAt == nil || j.CompletedAt == nil || j.QueuedAt == nil || j.AssignedAt == nil {
		t.Fatalf("completed job lacks attempts or timestamps: %+v", j)
	}
	out, _, code = cl.cli(ctx, "status", "--json", id)
	for _, field := range []string{`"id"`, `"state": "COMPLETED"`, `"exitCode": 0`, `"createdAt"`, `"queuedAt"`, `"assignedAt"`, `"startedAt"`, `"completedAt"`, `"attempts"`, `"workerId"`} {
		if !strings.Contains(out, field) {
			t.Errorf("status --json lacks %s:\n%s", field, out)
		}
	}
	if code != 0 {
		t.Fatalf("status: code %d", code)
	}
	// logs keeps the streams apart, as run does.
	out, _, _ = cl.cli(ctx, "submit", "--", "sh", "-c", "echo out; echo err >&2")
	both := strings.TrimSpace(out)
	cl.waitJob(both, 20*time.Second, "COMPLETED", func(j *drover.Job) bool { return j.State == drover.JobCompleted })
	if out, errOut, code := cl.cli(ctx, "logs", both); code != 0 || out != "out\n" || errOut != "err\n" {
		t.Fatalf("logs: code %d, stdout %q, stderr %q; want out on stdout, err on stderr", code, out, errOut)
	}
	out, _, _ = cl.cli(ctx, "jobs", "--state", "completed")
	if !strings.Contains(out, id) {
		t.Fatalf("jobs --state completed lacks %s:\n%s", id, out)
	}
	// A script of several lines stays on its row of the table and its line
	// of status, its newlines shown as \n.
	out, _, _ = cl.cli(ctx, "submit", "--", "sh", "-c", "echo one\necho two")
	multi := strings.TrimSpace(out)
	cl.waitJob(multi, 20*time.Second, "COMPLETED", func(j *drover.Job) bool { return j.State == drover.JobCompleted })
	out, _, _ = cl.cli(ctx, "jobs")
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "echo two") {
			t.Errorf("jobs: a script's second line starts a row of its own:\n%s", out)
		}
	}
	if !strings.Contains(out, `echo one\necho two`) {
		t.Errorf("jobs does not show the script on one line:\n%s", out)
	}
	if out, _, _ = cl.cli(ctx, "status", multi); !regexp.MustCompile(`(?m)^command: +echo one\\necho two$`).MatchString(out) {
		t.Errorf("status does not show the script on one line:\n%s", out)
	}
	// The hint for the next page keeps the filter and the page size.
	if _, errOut, code := cl.cli(ctx, "jobs", "--state", "completed", "--limit", "1"); code != 0 || !strings.Contains(errOut, "more: drover jobs --state COMPLETED --limit 1 --cursor ") {
		t.Fatalf("jobs --state completed --limit 1: code %d, stderr %q; want the next page's command", code, errOut)
	}
	// Several states at once, paged as one list.
	if _, errOut, code := cl.cli(ctx, "jobs", "--state", "failed,completed", "--limit", "1"); code != 0 || !strings.Contains(errOut, "more: drover jobs --state FAILED,COMPLETED --limit 1 --cursor ") {
		t.Fatalf("jobs --state failed,completed --limit 1: code %d, stderr %q; want the next page's command", code, errOut)
	}
	if out, _, code := cl.cli(ctx, "jobs", "--state", "queued, completed"); code != 0 || !strings.Contains(out, id) || !strings.Contains(out, multi) {
		t.Fatalf("jobs --state 'queued, completed': code %d, lacks %s or %s:\n%s", code, id, multi, out)
	}
	out, _, _ = cl.cli(ctx, "workers")
	if !strings.Contains(out, "w1") || !strings.Contains(out, "READY") {
		t.Fatalf("workers:\n%s", out)
	}
}

func TestTimeoutKillsTheTree(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{})
	cl.worker("w1")
	ctx := ctxT(t, time.Minute)
	pidFile := filepath.Join(shared(t), "pids")
	script := fmt.Sprintf("sleep 300 & echo $! >> %s; sh -c 'sleep 300 & echo $! >> %s; wait' & echo $$ >> %s; wait", pidFile, pidFile, pidFile)
	_, errOut, code := cl.cli(ctx, "run", "--timeout", "1s", "--", "sh", "-c", script)
	if code != 124 {
		t.Fatalf("timeout: exit %d, want 124; stderr %q", code, errOut)
	}
	waitGone(t, readPids(t, pidFile, 3, 5*time.Second), 5*time.Second)
}

func TestCancelQueuedAndRunning(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{})
	cl.worker("w1")
	ctx := ctxT(t, time.Minute)

	// Queued: no worker carries the label, so it waits; cancel is at once.
	out, _, _ := cl.cli(ctx, "submit", "--constraint", "gpu=yes", "--", "true")
	queued := strings.TrimSpace(out)
	// Until the scheduler's pass, the job only says it waits its turn.
	cl.waitJob(queued, 10*time.Second, "a pending reason naming the missing label", func(j *drover.Job) bool {
		return strings.Contains(j.PendingReason, "gpu=yes")
	})
	out, _, code := cl.cli(ctx, "cancel", queued)
	if code != 0 || !strings.Contains(out, "CANCELLED") {
		t.Fatalf("cancel queued: code %d, out %q", code, out)
	}

	// Running: the whole tree is gone within the grace period.
	pidFile := filepath.Join(shared(t), "pids")
	script := fmt.Sprintf("trap '' TERM; sleep 300 & echo $! >> %s; echo $$ >> %s; echo started; wait", pidFile, pidFile)
	out, _, _ = cl.cli(ctx, "submit", "--", "sh", "-c", script)
	running := strings.TrimSpace(out)
	cl.waitJob(running, 10*time.Second, "RUNNING", func(j *drover.Job) bool { return j.State == drover.JobRunning })
	pids := readPids(t, pidFile, 2, 10*time.Second)
	if _, _, code := cl.cli(ctx, "cancel", running); code != 0 {
		t.Fatalf("cancel running: code %d", code)
	}
	// The tree ignores SIGTERM: it is gone once the 1 s grace has passed.
	j := cl.waitJob(running, 10*time.Second, "CANCELLED", func(j *drover.Job) bool { return j.State == drover.JobCancelled })
	waitGone(t, pids, 3*time.Second)
	if j.Reason != drover.ReasonCancelled || len(j.Attempts) != 1 || j.Attempts[0].State != drover.AttemptCancelled {
		t.Errorf("cancelled job: %+v", j)
	}
	// Cancelling a final job is a conflict, said plainly.
	_, errOut, code := cl.cli(ctx, "cancel", running)
	if code == 0 || !strings.Contains(errOut, "CANCELLED") {
		t.Errorf("second cancel: code %d, stderr %q", code, errOut)
	}
}

func TestLargeOutputArrivesCompleteAndInOrder(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{})
	cl.worker("w1")
	ctx := ctxT(t, 2*time.Minute)

	// 100k short lines.
	out, _, code := cl.cli(ctx, "run", "--", "seq", "1", "100000")
	var want strings.Builder
	for i := 1; i <= 100000; i++ {
		want.WriteString(strconv.Itoa(i))
		want.WriteByte('\n')
	}
	if code != 0 || out != want.String() {
		t.Fatalf("seq 100000: code %d, got %d bytes, want %d", code, len(out), want.Len())
	}
	// 10 MB in big writes, stdout and stderr interleaved.
	script := `i=0; while [ $i -lt 160 ]; do head -c 65536 /dev/zero | tr '\0' "$(printf \\$(printf %o $((97 + i % 26))))"; i=$((i+1)); done; echo done >&2`
	out, errOut, code := cl.cli(ctx, "run", "--", "sh", "-c", script)
	var w strings.Builder
	for i := 0; i < 160; i++ {
		w.WriteString(strings.Repeat(string(rune('a'+i%26)), 65536))
	}
	if code != 0 || len(out) != w.Len() || sha256.Sum256([]byte(out)) != sha256.Sum256([]byte(w.String())) || errOut != "done\n" {
		t.Fatalf("10 MB: code %d, %d bytes (want %d), stderr %q", code, len(out), w.Len(), errOut)
	}
	// The stored output (drover logs) is the same after the fact.
	page, err := cl.c.Jobs(ctx, drover.JobFilter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	logs, _, _ := cl.cli(ctx, "logs", "--stream", "stdout", page.Jobs[0].ID)
	if len(logs) != w.Len() || logs != w.String() {
		t.Fatalf("logs: %d bytes, want %d", len(logs), w.Len())
	}
}

func TestWorkerKilledJobRequeuedOnAnother(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{fastReap: true})
	a, aID := cl.worker("wa")
	ctx := ctxT(t, time.Minute)
	marker := filepath.Join(shared(t), "first")
	// The first attempt blocks; the second (on another worker) completes.
	script := fmt.Sprintf("if [ -e %s ]; then echo second; exit 0; fi; touch %s; echo first; exec sleep 300", marker, marker)
	out, _, _ := cl.cli(ctx, "submit", "--", "sh", "-c", script)
	id := strings.TrimSpace(out)
	cl.waitJob(id, 10*time.Second, "RUNNING on wa", func(j *drover.Job) bool { return j.State == drover.JobRunning && j.WorkerID == aID })
	_, bID := cl.worker("wb")
	a.killProcessOnly()
	j := cl.waitJob(id, 20*time.Second, "COMPLETED", func(j *drover.Job) bool { return j.State == drover.JobCompleted })
	if len(j.Attempts) != 2 {
		t.Fatalf("want 2 attempts, got %+v", j.Attempts)
	}
	if at := j.Attempts[0]; at.WorkerID != aID || at.Reason != drover.ReasonWorkerLost || at.State != drover.AttemptFailed {
		t.Errorf("first attempt: %+v", at)
	}
	if at := j.Attempts[1]; at.WorkerID != bID || at.State != drover.AttemptCompleted {
		t.Errorf("second attempt: %+v", at)
	}
	if j.FleetRetries != 1 || j.JobRetries != 0 {
		t.Errorf("retries: fleet %d job %d", j.FleetRetries, j.JobRetries)
	}
	ws, err := cl.c.Worker(ctx, aID)
	if err != nil || ws.State != drover.WorkerDown {
		t.Errorf("killed worker: %+v, %v", ws, err)
	}
	logs, _, _ := cl.cli(ctx, "logs", id)
	if logs != "first\nsecond\n" {
		t.Errorf("logs %q: want both attempts' output in order", logs)
	}
	for n, want := range map[string]string{"1": "first\n", "2": "second\n"} {
		if logs, _, code := cl.cli(ctx, "logs", "--attempt", n, id); code != 0 || logs != want {
			t.Errorf("logs --attempt %s: code %d, %q, want %q", n, code, logs, want)
		}
	}
	if _, errOut, code := cl.cli(ctx, "logs", "--attempt", "3", id); code != 1 || !strings.Contains(errOut, "has 2 attempt(s)") {
		t.Errorf("logs --attempt 3 of a job with 2: code %d, stderr %q", code, errOut)
	}
	if _, errOut, code := cl.cli(ctx, "logs", "--attempt", "0", id); code != 2 || !strings.Contains(errOut, "numbered from 1") {
		t.Errorf("logs --attempt 0: code %d, stderr %q; want 2 and that attempts start at 1", code, errOut)
	}
	// Followed while it runs, a job that ends without the attempt asked
	// for is said to have.
	out, _, _ = cl.cli(ctx, "submit", "--", "sh", "-c", "sleep 2; echo once")
	once := strings.TrimSpace(out)
	if _, errOut, code := cl.cli(ctx, "logs", "-f", "--attempt", "2", once); code != 1 || !strings.Contains(errOut, "attempt(s)") {
		t.Errorf("logs -f --attempt 2 of a job that ran once: code %d, stderr %q; want 1 and why", code, errOut)
	}
}

// A job requeued because its worker was lost keeps its place in the queue:
// it runs before the jobs submitted after it, not behind them.
func TestJobOfALostWorkerKeepsItsPlace(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{fastReap: true})
	a, aID := cl.worker("wa", "--max-parallel", "1")
	ctx := ctxT(t, time.Minute)
	marker := filepath.Join(shared(t), "first")
	script := fmt.Sprintf("if [ -e %s ]; then exit 0; fi; touch %s; exec sleep 300", marker, marker)
	out, _, _ := cl.cli(ctx, "submit", "--name", "lost", "--", "sh", "-c", script)
	lost := strings.TrimSpace(out)
	cl.waitJob(lost, 10*time.Second, "RUNNING on wa", func(j *drover.Job) bool { return j.State == drover.JobRunning && j.WorkerID == aID })
	var later []string
	for i := range 3 {
		out, _, _ := cl.cli(ctx, "submit", "--name", fmt.Sprintf("later%d", i), "--", "true")
		later = append(later, strings.TrimSpace(out))
	}
	a.killProcessOnly()
	cl.waitJob(lost, 20*time.Second, "QUEUED again", func(j *drover.Job) bool { return j.State == drover.JobQueued && j.FleetRetries == 1 })
	// Queued again, it waits: the list does not name the lost worker.
	if out, _, _ := cl.cli(ctx, "jobs", "--state", "queued"); !regexp.MustCompile(`(?m)^` + lost + ` +QUEUED +- +- `).MatchString(out) {
		t.Errorf("jobs: the requeued job is not shown waiting (no exit code, no worker):\n%s", out)
	}
	cl.worker("wb", "--max-parallel", "1")
	j := cl.waitJob(lost, 20*time.Second, "COMPLETED", func(j *drover.Job) bool { return j.State == drover.JobCompleted })
	for _, id := range later {
		l := cl.waitJob(id, 20*time.Second, "COMPLETED", func(j *drover.Job) bool { return j.State == drover.JobCompleted })
		if !l.StartedAt.After(*j.StartedAt) {
			t.Errorf("job %s submitted after the lost one started at %s, before it (%s): the requeue lost its place", id, l.StartedAt, j.StartedAt)
		}
	}
}

// A worker stopped at once (a second SIGTERM) hands its running job back
// as lost, a fleet failure, not as an executor error that would keep the
// job away from it.
func TestWorkerStoppedTwiceRequeuesItsJobAsLost(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{})
	w, wID := cl.worker("wa")
	ctx := ctxT(t, time.Minute)
	out, _, _ := cl.cli(ctx, "submit", "--", "sleep", "300")
	id := strings.TrimSpace(out)
	cl.waitJob(id, 10*time.Second, "RUNNING on wa", func(j *drover.Job) bool { return j.State == drover.JobRunning && j.WorkerID == wID })
	w.signal(15)
	w.waitLine(`draining`, 10*time.Second)
	// The coordinator knows it drains (else it could give the job back to
	// it as it leaves, to be handed back).
	for ws, err := cl.c.Worker(ctx, wID); err != nil || ws.State != drover.WorkerDraining; ws, err = cl.c.Worker(ctx, wID) {
		if ctx.Err() != nil {
			t.Fatalf("worker not DRAINING: %+v, %v", ws, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	w.signal(15)
	j := cl.waitJob(id, 20*time.Second, "QUEUED again", func(j *drover.Job) bool {
		return j.State == drover.JobQueued && len(j.Attempts) == 1 && j.Attempts[0].FinishedAt != nil
	})
	if a := j.Attempts[0]; a.Reason != drover.ReasonWorkerLost || !strings.Contains(a.Message, "was stopped while running it") {
		t.Errorf("attempt ended %s %q, want worker_lost and why", a.Reason, a.Message)
	}
	if j.FleetRetries != 1 || j.JobRetries != 0 || len(j.AvoidWorkers) != 0 {
		t.Errorf("retries fleet %d job %d, avoid %v; want one fleet retry and no worker avoided", j.FleetRetries, j.JobRetries, j.AvoidWorkers)
	}
}

func TestCoordinatorKilledAndRestarted(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{})
	cl.worker("w1")
	ctx := ctxT(t, 2*time.Minute)
	dir := shared(t)
	release := filepath.Join(dir, "release")
	// One job runs through the coordinator's death; others wait for a
	// worker with a label that none has yet.
	out, _, _ := cl.cli(ctx, "submit", "--", "sh", "-c", fmt.Sprintf("echo before; while [ ! -e %s ]; do sleep 0.05; done; echo after", release))
	running := strings.TrimSpace(out)
	cl.waitJob(running, 10*time.Second, "RUNNING", func(j *drover.Job) bool { return j.State == drover.JobRunning })
	var queued []string
	for i := 0; i < 5; i++ {
		out, _, code := cl.cli(ctx, "submit", "--constraint", "zone=b", "--", "sh", "-c", fmt.Sprintf("echo job %d", i))
		if code != 0 {
			t.Fatalf("submit: %d", code)
		}
		queued = append(queued, strings.TrimSpace(out))
	}
	// drover run follows a job through the outage and says when it is back.
	released := filepath.Join(dir, "released")
	run := start(t, "run", []string{"DROVER_SERVER=" + cl.url}, "run", "-v", "--", "sh", "-c", fmt.Sprintf("while [ ! -e %s ]; do sleep 0.05; done", released))
	run.waitLine(`running on w1 \(attempt 1\)`, 30*time.Second)
	cl.server.killProcessOnly()
	run.waitLine(`lost the coordinator at .*; retrying, the job goes on`, 30*time.Second)
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cl.startServer(serverOpt{})
	run.waitLine(`reached the coordinator at .* again`, 30*time.Second)
	if err := os.WriteFile(released, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	run.wait(30 * time.Second)
	if code := run.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("drover run across the restart exited %d, want 0", code)
	}
	// The running job's worker kept it and reports once the coordinator is back.
	j := cl.waitJob(running, 30*time.Second, "COMPLETED", func(j *drover.Job) bool { return j.State == drover.JobCompleted })
	logs, _, _ := cl.cli(ctx, "logs", running)
	if logs != "before\nafter\n" || len(j.Attempts) != 1 {
		t.Errorf("job across the restart: logs %q, attempts %d", logs, len(j.Attempts))
	}
	cl.worker("w2", "--labels", "zone=b")
	for i, id := range queued {
		j := cl.waitJob(id, 30*time.Second, "COMPLETED", func(j *drover.Job) bool { return j.State == drover.JobCompleted })
		logs, _, _ := cl.cli(ctx, "logs", j.ID)
		if logs != fmt.Sprintf("job %d\n", i) {
			t.Errorf("job %d logs %q", i, logs)
		}
	}
}

// TestRestartedWorkerCleansUp kills a worker with -9 while its job has a
// background process; the worker started again on the same work dir kills
// that orphan and removes the old workspace.
func TestRestartedWorkerCleansUp(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{})
	wd := workDir(t)
	w, wid := cl.worker("wp", "--work-dir", wd)
	ctx := ctxT(t, time.Minute)
	pidFile := filepath.Join(shared(t), "pid")
	out, _, _ := cl.cli(ctx, "submit", "--", "sh", "-c", fmt.Sprintf("sleep 300 & echo $! > %s; wait", pidFile))
	id := strings.TrimSpace(out)
	j := cl.waitJob(id, 10*time.Second, "RUNNING", func(j *drover.Job) bool { return j.State == drover.JobRunning && j.WorkerID == wid })
	lost := j.Attempts[len(j.Attempts)-1].ID
	pids := readPids(t, pidFile, 1, 10*time.Second)
	w.killProcessOnly()
	if !alive(pids[0]) {
		t.Fatalf("the background process died with its worker; nothing to clean up")
	}
	w2, _ := cl.worker("wp", "--work-dir", wd) // the dead worker's lock went with it
	w2.waitLine(`msg="removed leftover workspaces" count=1`, 10*time.Second)
	waitGone(t, pids, 10*time.Second)
	des, err := os.ReadDir(wd)
	if err != nil {
		t.Fatal(err)
	}
	// The restarted worker takes its name back and the requeued job may
	// run on it again: only the lost attempt's workspace is a leftover.
	for _, de := range des {
		if strings.HasPrefix(de.Name(), lost+"-") {
			t.Errorf("leftover workspace %s", de.Name())
		}
	}
	if _, err := cl.c.Cancel(ctx, id); err != nil && !drover.IsCode(err, drover.ECONFLICT) {
		t.Fatal(err)
	}
}

func TestTwoWorkersCannotShareAWorkDir(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{})
	wd := workDir(t)
	cl.worker("one", "--work-dir", wd)
	cmd := exec.Command(bin, "worker", "--server", cl.url, "--name", "two", "--executor", "process", "--work-dir", wd, "--run-as", uidRange(t))
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "in use by another worker") {
		t.Fatalf("second worker on the same work dir: %v\n%s", err, out)
	}
}

// An attempt's untouched workspace goes back to the worker's pool, so the
// job placed in that slot next gets the same folder under its own name
// rather than a new one.
func TestUntouchedWorkspaceGoesToTheNextJobInTheSlot(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{})
	cl.worker("w1", "--max-parallel", "1")
	ctx := ctxT(t, time.Minute)
	spec := drover.JobSpec{Command: drover.Command{"sh", "-c", `echo "$(stat -c %i .) $PWD"`}}
	var ids []string
	for range 2 { // the second waits for the first's slot
		j, err := cl.c.Submit(ctx, spec, "")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	var inodes, dirs []string
	for _, id := range ids {
		j := cl.waitJob(id, 30*time.Second, "final", func(j *drover.Job) bool { return j.State.Final() })
		out, _, _ := cl.cli(ctx, "logs", id)
		f := strings.Fields(out)
		if j.State != drover.JobCompleted || len(f) != 2 {
			t.Fatalf("job %s: %s, output %q", id, j.State, out)
		}
		inodes, dirs = append(inodes, f[0]), append(dirs, f[1])
	}
	if inodes[0] != inodes[1] || dirs[0] == dirs[1] {
		t.Fatalf("workspaces (inode, path) %v %v: want one folder under two names", inodes, dirs)
	}
}

// drover run and drover logs give the output's bytes exactly, as docker
// logs does: binary bytes, and characters cut between two chunks (tr
// writes in blocks that do not end between characters).
func TestOutputBytesExact(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{})
	cl.worker("w1")
	ctx := ctxT(t, time.Minute)

	line := strings.Repeat("é", 50)
	script := `printf x; yes '` + line + `' | head -n 3000 | tr -d '\n'; printf '\377\376\000\001abc\200\n'`
	want := "x" + strings.Repeat(line, 3000) + "\xff\xfe\x00\x01abc\x80\n"
	out, errOut, code := cl.cli(ctx, "run", "--", "sh", "-c", script)
	if code != 0 || out != want {
		t.Fatalf("run: code %d, %d bytes of stdout (want %d), equal %v, stderr %q", code, len(out), len(want), out == want, errOut)
	}
	out, _, code = cl.cli(ctx, "submit", "--", "sh", "-c", script)
	id := strings.TrimSpace(out)
	cl.waitJob(id, 30*time.Second, "COMPLETED", func(j *drover.Job) bool { return j.State == drover.JobCompleted })
	out, errOut, code = cl.cli(ctx, "logs", id)
	if code != 0 || out != want {
		t.Fatalf("logs: code %d, %d bytes of stdout (want %d), equal %v, stderr %q", code, len(out), len(want), out == want, errOut)
	}
}

// drover dev runs a job; a drain of its worker from the API (the UI's
// button) lets the worker leave but keeps the coordinator and the UI
// serving; Ctrl-C then stops it.
func TestDevWorkerDrainedKeepsServing(t *testing.T) {
	t.Parallel()
	listen := freePort(t)
	dev := start(t, "dev", nil, "dev", "--listen", listen, "--data", t.TempDir(), "--work-dir", workDir(t), "--executor", "process", "--run-as", uidRange(t))
	url := "http://" + listen
	dev.waitLine(`try: +DROVER_SERVER=`+regexp.QuoteMeta(url)+` drover run -- echo hello`, 30*time.Second)
	c := client.New(url)
	ctx := ctxT(t, time.Minute)
	cmd := exec.CommandContext(ctx, bin, "run", "--", "echo", "hello")
	cmd.Env = append(cleanEnv(), "DROVER_SERVER="+url)
	if out, err := cmd.Output(); err != nil || string(out) != "hello\n" {
		t.Fatalf("run against dev: %q, %v", out, err)
	}
	ws, err := c.Workers(ctx)
	if err != nil || len(ws) != 1 {
		t.Fatalf("workers: %v %v", ws, err)
	}
	if _, err := c.Drain(ctx, ws[0].ID); err != nil {
		t.Fatal(err)
	}
	dev.waitLine(`the local worker drained and left`, 30*time.Second)
	if _, err := c.Workers(ctx); err != nil {
		t.Fatalf("the coordinator stopped with its worker: %v", err)
	}
	dev.signal(syscall.SIGINT)
	dev.wait(20 * time.Second)
	if code := dev.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("dev exited %d after Ctrl-C, want 0", code)
	}
}

// Jobs cancelled together do not start in the slots the running ones of
// the list free: the cancel is one transaction.
func TestCancelManyStartsNoneOfThem(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{})
	cl.worker("w1", "--max-parallel", "2")
	ctx := ctxT(t, time.Minute)
	var ids []string
	for range 2 { // the two slots, busy
		out, _, _ := cl.cli(ctx, "submit", "--", "sleep", "300")
		ids = append(ids, strings.TrimSpace(out))
	}
	for _, id := range ids {
		cl.waitJob(id, 10*time.Second, "RUNNING", func(j *drover.Job) bool { return j.State == drover.JobRunning })
	}
	for range 20 {
		out, _, _ := cl.cli(ctx, "submit", "--", "true")
		ids = append(ids, strings.TrimSpace(out))
	}
	// The running ones first, as a list in the order jobs were made.
	if out, errOut, code := cl.cli(ctx, append([]string{"cancel"}, ids...)...); code != 0 {
		t.Fatalf("cancel: code %d, out %q, err %q", code, out, errOut)
	}
	for _, id := range ids {
		j := cl.waitJob(id, 20*time.Second, "CANCELLED", func(j *drover.Job) bool { return j.State.Final() })
		if j.State != drover.JobCancelled {
			t.Errorf("job %s ended %s, want CANCELLED", id, j.State)
		}
		if id != ids[0] && id != ids[1] && len(j.Attempts) != 0 {
			t.Errorf("queued job %s was started (%d attempts) though cancelled with the others", id, len(j.Attempts))
		}
	}
}

// A worker paused (SIGSTOP) past an assignment's acknowledgement window does
// not run it when it wakes: the coordinator took it back and gave it to
// another worker, and a job must not run twice by accident.
func TestPausedWorkerDoesNotRunATakenBackAssignment(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{args: []string{"--ack-timeout", "1s"}})
	w1, w1ID := cl.worker("w1")
	ran := filepath.Join(shared(t), "ran")
	t.Cleanup(func() { w1.signal(syscall.SIGCONT) }) // so it can be stopped
	// The assignment must reach w1's open long-poll while w1 is paused: a
	// pause that came before w1's poll was sent leaves nothing in its
	// socket, and is tried again with another job.
	var j *drover.Job
	for try := 1; ; try++ {
		w1.signal(syscall.SIGSTOP)
		j = submitJob(t, cl, drover.JobSpec{Command: shell("echo $DROVER_ATTEMPT_ID >> " + ran)})
		got := cl.waitJob(j.ID, 30*time.Second, "its first attempt delivered or taken back", func(j *drover.Job) bool {
			return len(j.Attempts) > 0 && (j.Attempts[0].DeliveredAt != nil || j.Attempts[0].State.Final())
		})
		if got.Attempts[0].DeliveredAt != nil {
			break
		}
		if try == 5 {
			t.Fatal("w1's long-poll was never open when it was paused")
		}
		if _, err := cl.c.Cancel(ctxT(t, 10*time.Second), j.ID); err != nil {
			t.Fatal(err)
		}
		w1.signal(syscall.SIGCONT)
		ctx := ctxT(t, 20*time.Second)
		for w, err := cl.c.Worker(ctx, w1ID); err != nil || w.State != drover.WorkerReady; w, err = cl.c.Worker(ctx, w1ID) {
			select {
			case <-ctx.Done():
				t.Fatalf("w1 not READY again after a pause: %+v, %v", w, err)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	// Taken back (not acknowledged, and again when w1 is DOWN), it waits.
	cl.waitJob(j.ID, 30*time.Second, "taken back from w1", func(j *drover.Job) bool {
		return j.State == drover.JobQueued && strings.Contains(j.PendingReason, "1 DOWN")
	})
	cl.worker("w2")
	cl.waitJob(j.ID, 20*time.Second, "COMPLETED on w2", func(j *drover.Job) bool { return j.State == drover.JobCompleted })
	w1.signal(syscall.SIGCONT)
	w1.waitLine(`assignment withdrawn before it started`, 20*time.Second)
	b, err := os.ReadFile(ran)
	if err != nil {
		t.Fatal(err)
	}
	if runs := strings.Fields(string(b)); len(runs) != 1 {
		t.Errorf("the command ran %d times (attempts %q), want once", len(runs), runs)
	}
}
