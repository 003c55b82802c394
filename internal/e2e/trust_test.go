package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/client"
)

// workerExecutors returns the executors worker id offers, as registered.
func workerExecutors(t *testing.T, c *client.Client, id string) []string {
	t.Helper()
	w, err := c.Worker(ctxT(t, 10*time.Second), id)
	if err != nil {
		t.Fatal(err)
	}
	return w.Executors
}

// TestExecutorsAreTheOperatorsChoice: with the Docker engine answering,
// --executor auto offers docker alone, so a job asking for process is
// refused at submission; docker,process offers both. A process job waits,
// saying why, while the only process worker is draining or DOWN.
func TestExecutorsAreTheOperatorsChoice(t *testing.T) {
	needDocker(t)
	t.Parallel()
	cl := newCluster(t, serverOpt{fastReap: true})
	ctx := ctxT(t, 2*time.Minute)
	d, dID := cl.worker("d", "--executor", "auto")
	if got := workerExecutors(t, cl.c, dID); !slices.Equal(got, []string{drover.ExecutorDocker}) {
		t.Fatalf("--executor auto with Docker answering offers %v, want [docker]", got)
	}
	d.waitLine(`executor auto: docker, as the Docker engine answers`, 10*time.Second)

	process := drover.JobSpec{Command: drover.Command{"sleep", "300"}, Executor: drover.ExecutorProcess}
	refusals := []struct {
		spec        drover.JobSpec
		field, says string
	}{
		{process, "executor", "an operator must start a worker with --executor process"},
		{drover.JobSpec{Command: drover.Command{"true"}}, "image", "give the job an --image"},
	}
	for _, r := range refusals {
		_, err := cl.c.Submit(ctx, r.spec, "")
		var de *drover.Error
		if !errors.As(err, &de) || de.Code != drover.EUNSCHEDULABLE || de.Field != r.field || !strings.Contains(de.Message, r.says) {
			t.Errorf("%+v on a docker-only fleet: %v, want 422 on %s saying %q", r.spec, err, r.field, r.says)
		}
	}
	_, errOut, code := cl.cli(ctx, "run", "--executor", "process", "--", "true")
	if code != 125 || !strings.Contains(errOut, "no registered worker offers executor process") {
		t.Errorf("drover run --executor process on a docker-only fleet: exit %d, stderr %q", code, errOut)
	}

	dp, dpID := cl.worker("dp", "--executor", "docker,process")
	if got := workerExecutors(t, cl.c, dpID); !slices.Equal(got, []string{drover.ExecutorDocker, drover.ExecutorProcess}) {
		t.Fatalf("--executor docker,process offers %v", got)
	}
	long, err := cl.c.Submit(ctx, process, "")
	if err != nil {
		t.Fatal(err)
	}
	cl.waitJob(long.ID, 30*time.Second, "RUNNING on dp", func(j *drover.Job) bool { return j.State == drover.JobRunning && j.WorkerID == dpID })
	if _, err := cl.c.Drain(ctx, dpID); err != nil {
		t.Fatal(err)
	}
	// Registered, though not READY: the job is taken and waits.
	waiting, err := cl.c.Submit(ctx, drover.JobSpec{Command: drover.Command{"true"}, Executor: drover.ExecutorProcess}, "")
	if err != nil {
		t.Fatalf("a process job while the process worker drains: %v, want it to wait", err)
	}
	for _, state := range []string{"DRAINING", "DOWN"} {
		want := "no READY worker offers executor process (dp, which does, is " + state + "): an operator must start a worker with --executor process"
		cl.waitJob(waiting.ID, 30*time.Second, "pending: "+want, func(j *drover.Job) bool {
			return j.State == drover.JobQueued && strings.HasPrefix(j.PendingReason, want)
		})
		if state == "DRAINING" {
			dp.killProcessOnly()
		}
	}
	for _, id := range []string{long.ID, waiting.ID} {
		if _, err := cl.c.Cancel(ctx, id); err != nil && !drover.IsCode(err, drover.ECONFLICT) {
			t.Fatal(err)
		}
	}
}

// TestDevOffersProcessAndDocker: drover dev is one user on loopback, so its
// worker offers process, and docker since the engine answers.
func TestDevOffersProcessAndDocker(t *testing.T) {
	needDocker(t)
	t.Parallel()
	listen := freePort(t)
	dev := start(t, "dev", nil, "dev", "--listen", listen, "--data", t.TempDir(), "--work-dir", workDir(t), "--run-as", uidRange(t))
	dev.waitLine(`executors: process \(drover dev runs your commands on this machine\) and docker`, 30*time.Second)
	dev.waitLine(`msg=registered`, 30*time.Second)
	c := client.New("http://" + listen)
	ws, err := c.Workers(ctxT(t, 10*time.Second))
	if err != nil || len(ws) != 1 {
		t.Fatalf("workers: %v %v", ws, err)
	}
	if got := ws[0].Executors; !slices.Equal(got, []string{drover.ExecutorProcess, drover.ExecutorDocker}) {
		t.Fatalf("dev's worker offers %v, want [process docker]", got)
	}
}

// childWith returns the pid of a child of parent whose command line has
// arg, or 0.
func childWith(parent int, arg string) int {
	des, _ := os.ReadDir("/proc")
	for _, de := range des {
		pid, err := strconv.Atoi(de.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		i := bytes.LastIndexByte(stat, ')')
		if err != nil || i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 2 || f[1] != strconv.Itoa(parent) {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if slices.Contains(strings.Split(string(cmdline), "\x00"), arg) {
			return pid
		}
	}
	return 0
}

// TestJoinTokenNotPassedOn: a worker given its join token in the
// environment passes it to no process it starts (its container guard, its
// jobs), and does not need it after registering.
func TestJoinTokenNotPassedOn(t *testing.T) {
	needDocker(t)
	t.Parallel()
	cl := newCluster(t, serverOpt{token: "api"}) // the join token is join-api
	ctx := ctxT(t, time.Minute)
	w, _ := cl.worker("g", "--executor", "docker,process")
	pid := w.cmd.Process.Pid
	guard := childWith(pid, "docker-guard")
	if guard == 0 {
		t.Fatalf("no container guard among the children of worker %d", pid)
	}
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", guard))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(environ, []byte("join-api")) {
		t.Errorf("the container guard's environment holds the join token")
	}
	if cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); bytes.Contains(cmdline, []byte("join-api")) {
		t.Errorf("the worker's command line holds the join token: %q", cmdline)
	}
	out, errOut, code := cl.cli(ctx, "run", "--executor", "process", "--", "env")
	if code != 0 || strings.Contains(out, "join-api") || strings.Contains(out, "DROVER_JOIN_TOKEN") {
		t.Errorf("a process job's environment: exit %d, %q %q; want no join token", code, out, errOut)
	}
}

// waitLineN waits for the nth stderr line of p matching re.
func (p *proc) waitLineN(re string, n int, d time.Duration) {
	p.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(d)
	for {
		p.mu.Lock()
		got := 0
		for _, l := range p.lines {
			if rx.MatchString(l) {
				got++
			}
		}
		grow := p.grow
		p.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-grow:
		case <-p.done:
			p.t.Fatalf("%s exited after printing %q %d times, want %d", p.name, re, got, n)
		case <-time.After(time.Until(deadline)):
			p.t.Fatalf("%s printed %q %d times within %s, want %d", p.name, re, got, d, n)
		}
	}
}

// TestForgottenWorkerRegistersAgainWithTheFile: a coordinator that lost
// its data forgets its workers. The worker given --join-token-file reads
// the file again and registers anew; the one given the token in its
// environment has none left (it dropped it once registered), and stops
// saying why.
func TestForgottenWorkerRegistersAgainWithTheFile(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{token: "api"})
	ctx := ctxT(t, 2*time.Minute)
	tokenFile := filepath.Join(t.TempDir(), "join")
	if err := os.WriteFile(tokenFile, []byte("join-api\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	withFile, _ := cl.worker("f", "--join-token-file", tokenFile)
	withEnv, _ := cl.worker("e")

	cl.server.kill()
	cl.data = t.TempDir()
	cl.startServer(serverOpt{token: "api"})
	withFile.waitLineN(`msg=registered worker=`, 2, 30*time.Second)
	withEnv.wait(30 * time.Second)
	if code := withEnv.cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("worker without the token: exit %d, want 1", code)
	}
	withEnv.waitLine(`registering again needs the join token.*--join-token-file`, 5*time.Second)
	out, errOut, code := cl.cli(ctx, "run", "--", "echo", "again")
	if code != 0 || out != "again\n" {
		t.Fatalf("run on the worker registered again: exit %d, %q %q", code, out, errOut)
	}
}

// TestWorkerNameTakenUntilProvenOrDown: a second worker under a live
// worker's name is refused and exits, saying which worker holds it; the
// worker itself restarted after kill -9 on its work dir is let in at once
// (the earlier registration would stay READY for a minute), and its job is
// requeued to it.
func TestWorkerNameTakenUntilProvenOrDown(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, serverOpt{args: []string{"--heartbeat-timeout", "60s"}})
	ctx := ctxT(t, 2*time.Minute)
	wd := workDir(t)
	w, wid := cl.worker("u", "--work-dir", wd)
	j, err := cl.c.Submit(ctx, drover.JobSpec{Command: drover.Command{"sleep", "300"}}, "")
	if err != nil {
		t.Fatal(err)
	}
	cl.waitJob(j.ID, 30*time.Second, "RUNNING", func(j *drover.Job) bool { return j.State == drover.JobRunning && j.WorkerID == wid })

	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	other := exec.CommandContext(cctx, bin, "worker", "--server", cl.url, "--name", "u", "--executor", "process", "--work-dir", workDir(t), "--run-as", uidRange(t))
	other.Env = cleanEnv()
	out, err := other.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), `worker name "u" is taken by worker `+wid) ||
		!strings.Contains(string(out), "its own --name") {
		t.Fatalf("a second worker named u: %v\n%s", err, out)
	}

	w.killProcessOnly()
	_, wid2 := cl.worker("u", "--work-dir", wd)
	got := cl.waitJob(j.ID, 30*time.Second, "RUNNING on the restarted worker", func(j *drover.Job) bool {
		return j.State == drover.JobRunning && j.WorkerID == wid2 && len(j.Attempts) == 2
	})
	if a := got.Attempts[0]; a.Reason != drover.ReasonWorkerLost || !strings.Contains(a.Message, "restarted") {
		t.Errorf("the first attempt: %s %q, want worker_lost to the restart", a.Reason, a.Message)
	}
	if _, err := cl.c.Worker(ctx, wid); !drover.IsCode(err, drover.ENOTFOUND) {
		t.Errorf("the earlier registration after the restart: %v, want it gone", err)
	}
	if _, err := cl.c.Cancel(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
}

// TestTokenFlags: API tokens need a join token; a token file must exist,
// hold a token and be its owner's alone. Each refusal is exit 2 naming the
// flag.
func TestTokenFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	open, empty, good := file("open", "tok\n", 0o644), file("empty", "\n", 0o600), file("good", "tok\n", 0o600)
	tests := []struct {
		env  []string
		args []string
		says []string
	}{
		{[]string{"DROVER_API_TOKEN=a"}, []string{"server"}, []string{"no join token", "DROVER_JOIN_TOKEN", "--join-token-file"}},
		{nil, []string{"server", "--api-token-file", good}, []string{"no join token", "--join-token-file"}},
		{[]string{"DROVER_API_TOKEN=a"}, []string{"server", "--listen", "0.0.0.0:0", "--insecure"}, []string{"no join token"}},
		{[]string{"DROVER_API_TOKEN=a"}, []string{"dev"}, []string{"no join token"}},
		{nil, []string{"server", "--join-token-file", filepath.Join(dir, "missing")}, []string{"--join-token-file", "no such file"}},
		{nil, []string{"server", "--join-token-file", open}, []string{"--join-token-file", "chmod 600"}},
		{nil, []string{"worker", "--join-token-file", empty}, []string{"--join-token-file", "is empty"}},
		{[]string{"DROVER_JOIN_TOKEN=x", "DROVER_JOIN_TOKEN_FILE=" + good}, []string{"worker"}, []string{"DROVER_JOIN_TOKEN and DROVER_JOIN_TOKEN_FILE are both set"}},
		{nil, []string{"worker", "--join-token", "x", "--join-token-file", good}, []string{"--join-token and --join-token-file both given"}},
		{nil, []string{"worker", "--executor", "process,process"}, []string{"--executor", "process is given twice"}},
	}
	for _, tt := range tests {
		args := append(tt.args, "--data", t.TempDir())
		if tt.args[0] == "worker" {
			args = append(tt.args, "--work-dir", t.TempDir(), "--server", "http://127.0.0.1:1")
		}
		// A command that does not refuse would serve: the deadline ends it.
		cmd := exec.CommandContext(ctxT(t, 30*time.Second), bin, args...)
		cmd.Env = append(cleanEnv(), tt.env...)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("%v %v: %v, want exit 2\n%s", tt.env, tt.args, err, out)
			continue
		}
		for _, s := range tt.says {
			if !strings.Contains(string(out), s) {
				t.Errorf("%v %v: %q does not say %q", tt.env, tt.args, out, s)
			}
		}
	}
}

// TestDevRestartedWithoutItsWorkDir: drover dev killed with -9, then
// started again on its data folder with its work dir gone (a reboot that
// empties /tmp). Its coordinator still lists the earlier worker READY, and
// nothing proves this run's worker is that one: dev removes it, so its
// worker takes the name and the job that was running runs again.
func TestDevRestartedWithoutItsWorkDir(t *testing.T) {
	t.Parallel()
	data, listen, ids := t.TempDir(), freePort(t), uidRange(t)
	dev := start(t, "dev", nil, "dev", "--listen", listen, "--data", data, "--work-dir", workDir(t), "--executor", "process", "--run-as", ids)
	dev.waitLine(`msg=registered`, 30*time.Second)
	c := client.New("http://" + listen)
	ctx := ctxT(t, time.Minute)
	j, err := c.Submit(ctx, drover.JobSpec{Command: drover.Command{"sleep", "300"}}, "")
	if err != nil {
		t.Fatal(err)
	}
	for {
		got, err := c.Job(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State == drover.JobRunning {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	dev.killProcessOnly()

	again := start(t, "dev again", nil, "dev", "--listen", listen, "--data", data, "--work-dir", workDir(t), "--executor", "process", "--run-as", ids)
	again.waitLine(`removed the worker of an earlier drover dev`, 30*time.Second)
	again.waitLine(`msg=registered`, 30*time.Second)
	for {
		got, err := c.Job(ctx, j.ID)
		if err == nil && got.State == drover.JobRunning && len(got.Attempts) == 2 {
			if a := got.Attempts[0]; a.Reason != drover.ReasonWorkerLost {
				t.Errorf("the first attempt: %s, want worker_lost", a.Reason)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("job %+v (%v): want it running again", got, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := c.Cancel(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
}
