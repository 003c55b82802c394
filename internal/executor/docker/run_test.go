package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/executor"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// probeScript prints key=value lines describing the container from inside:
// its cgroup limits (v1 or v2, whichever the host uses), user, network
// interfaces, writable paths and privileges.
const probeScript = `
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
	echo cgroup=2
	echo mem=$(cat /sys/fs/cgroup/memory.max)
	echo swap=$(cat /sys/fs/cgroup/memory.swap.max 2>/dev/null || echo 0)
	echo cpu="$(cat /sys/fs/cgroup/cpu.max)"
	echo pids=$(cat /sys/fs/cgroup/pids.max)
else
	echo cgroup=1
	m=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)
	echo mem=$m
	# memsw is memory+swap; equal to the memory limit means no swap.
	if [ -f /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes ]; then
		echo swap=$(( $(cat /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes) - m ))
	else
		echo swap=0
	fi
	echo cpu="$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)"
	echo pids=$(cat /sys/fs/cgroup/pids/pids.max)
fi
echo uid=$(id -u)
echo ifaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\n' ,)
touch /rootfile 2>/dev/null && echo root=writable || echo root=readonly
touch /tmp/x && echo tmp=writable
echo tmpmode=$(stat -c %a /tmp)
printf '#!/bin/sh\necho yes\n' > /tmp/run.sh && chmod +x /tmp/run.sh && echo tmpexec=$(/tmp/run.sh)
touch /workspace/made-inside && echo workspace=writable
echo hello=$(cat hello.txt)
echo cwd=$(pwd)
echo home=$HOME
echo tmpdir=$TMPDIR
echo job=$DROVER_JOB_ID
echo custom=$CUSTOM
echo nnp=$(grep NoNewPrivs /proc/self/status | tr -dc 0-9)
echo capeff=$(grep CapEff /proc/self/status | cut -f2)
echo init=$(cat /proc/1/comm)
`

func TestRunIsolation(t *testing.T) {
	t.Parallel()
	e := newTestExecutor(t, Config{PidsLimit: 100})
	task := newTask(t, "sh", "-c", probeScript)
	task.Spec.Env = map[string]string{"CUSTOM": "from spec"}
	task.Spec.Network = true // refused: the worker's policy does not allow it
	if err := os.WriteFile(filepath.Join(task.Workspace, "hello.txt"), []byte("from host\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Made open to others: the executor closes it.
	if err := os.Chmod(task.Workspace, 0o755); err != nil {
		t.Fatal(err)
	}
	out := newSink("")
	res := e.Run(context.Background(), task, out)
	if res.ExitCode == nil || *res.ExitCode != 0 || res.Reason != "" {
		t.Fatalf("result %+v (exit %s)\nstdout: %s\nstderr: %s", res, exitCode(res), out.String(drover.Stdout), out.String(drover.Stderr))
	}
	got := map[string]string{}
	for _, line := range strings.Split(out.String(drover.Stdout), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			got[k] = v
		}
	}
	t.Logf("cgroup v%s, stderr: %q", got["cgroup"], out.String(drover.Stderr))
	want := map[string]string{
		"mem":       "67108864", // 64 MiB
		"swap":      "0",
		"cpu":       "500000 1000000", // 500m: half of each period, over one second under a core
		"pids":      "100",
		"uid":       "65534",
		"ifaces":    "lo,",
		"root":      "readonly",
		"tmp":       "writable",
		"tmpmode":   "1777",
		"tmpexec":   "yes",
		"workspace": "writable",
		"hello":     "from host",
		"cwd":       "/workspace",
		"home":      "/workspace",
		"tmpdir":    "/tmp",
		"job":       task.JobID,
		"custom":    "from spec",
		"nnp":       "1",
		"capeff":    "0000000000000000",
		"init":      "docker-init",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if _, err := os.Stat(filepath.Join(task.Workspace, "made-inside")); err != nil {
		t.Errorf("file written in /workspace is not in the host workspace: %v", err)
	}
	// The workspace is the container user's alone on the host.
	if e.chown {
		fi, err := os.Stat(task.Workspace)
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 65534 || st.Gid != 65534 || fi.Mode().Perm() != 0o700 {
			t.Errorf("workspace %d:%d mode %04o, want 65534:65534 0700", st.Uid, st.Gid, fi.Mode().Perm())
		}
	} else if os.Getenv("CI") == "true" {
		t.Errorf("the workspace was not chowned to the container user (engine with remapped ids, or a worker that is not root)")
	}
	assertGone(t, e, task.AttemptID)
}

// /tmp is a tmpfs of the job's own whatever the image's /tmp is. Engines
// with API 1.46 or later make it mode 1777, so the job's user may write
// there. Older ones copy the image's /tmp in, mode and all: an image whose
// /tmp is 0755 gives the job a /tmp it cannot write.
func TestRunTmpWhateverTheImage(t *testing.T) {
	t.Parallel()
	e := newTestExecutor(t, Config{})
	task := newTask(t, "sh", "-c", `echo mode=$(stat -c %a /tmp)
touch /tmp/x 2>/dev/null && echo tmp=writable || echo tmp=closed
grep -q '^tmpfs /tmp tmpfs ' /proc/mounts && echo fs=tmpfs`)
	task.Spec.Image = tmp0755Image
	out := newSink("")
	res := e.Run(context.Background(), task, out)
	if exitCode(res) != "0" {
		t.Fatalf("result %+v\nstderr: %s", res, out.String(drover.Stderr))
	}
	want := "mode=755\ntmp=closed\nfs=tmpfs\n"
	if e.tmpfsOptions {
		want = "mode=1777\ntmp=writable\nfs=tmpfs\n"
	}
	if got := out.String(drover.Stdout); got != want {
		t.Errorf("engine API %s: /tmp says %q, want %q", e.cli.ClientVersion(), got, want)
	}
	assertGone(t, e, task.AttemptID)
}

func TestRunNetworkWhenAllowed(t *testing.T) {
	t.Parallel()
	e := newTestExecutor(t, Config{AllowNetwork: true})
	task := newTask(t, "cat", "/proc/net/dev")
	task.Spec.Network = true
	out := newSink("")
	res := e.Run(context.Background(), task, out)
	if exitCode(res) != "0" {
		t.Fatalf("result %+v\nstderr: %s", res, out.String(drover.Stderr))
	}
	if !strings.Contains(out.String(drover.Stdout), "eth0") {
		t.Errorf("no eth0 with network allowed:\n%s", out.String(drover.Stdout))
	}
}

func TestRunOutputAndExitCode(t *testing.T) {
	t.Parallel()
	e := newTestExecutor(t, Config{})
	task := newTask(t, "sh", "-c", "echo out1; echo err1 >&2; echo out2; exit 7")
	var pulls []time.Duration
	task.OnStart = func(pull time.Duration) { pulls = append(pulls, pull) }
	out := newSink("")
	res := e.Run(context.Background(), task, out)
	if exitCode(res) != "7" || res.Reason != "" {
		t.Fatalf("result %+v (exit %s), want exit 7 and no reason", res, exitCode(res))
	}
	if got := out.String(drover.Stdout); got != "out1\nout2\n" {
		t.Errorf("stdout %q", got)
	}
	if got := out.String(drover.Stderr); got != "err1\n" {
		t.Errorf("stderr %q", got)
	}
	if len(pulls) != 1 || pulls[0] != res.ImagePull {
		t.Errorf("OnStart calls %v, want one with the ImagePull %v", pulls, res.ImagePull)
	}
	assertGone(t, e, task.AttemptID)
}

func TestRunOOMKilled(t *testing.T) {
	t.Parallel()
	e := newTestExecutor(t, Config{})
	// Doubles a shell variable until the 16 MiB limit kills the shell.
	task := newTask(t, "sh", "-c", "x=a; while true; do x=$x$x; done")
	task.Spec.Resources.MemoryMB = 16
	res := e.Run(context.Background(), task, newSink(""))
	if res.Reason != drover.ReasonOOMKilled || exitCode(res) != "137" {
		t.Fatalf("result %+v (exit %s), want oom_killed with exit 137", res, exitCode(res))
	}
	if !strings.Contains(res.Message, "16 MiB") {
		t.Errorf("message %q does not name the limit", res.Message)
	}
	assertGone(t, e, task.AttemptID)
	// The engine's log has the OOM event, which is what says so when the
	// engine processed the exit first and left the flag unset; a container
	// that was not killed for memory has none.
	if !e.oomEvent(t.Context(), ContainerName(task.AttemptID), time.Now().Add(-time.Minute)) {
		t.Errorf("no OOM event found for the OOM-killed container")
	}
	plain := newTask(t, "true")
	if res := e.Run(context.Background(), plain, newSink("")); exitCode(res) != "0" {
		t.Fatalf("true: %+v", res)
	}
	if e.oomEvent(t.Context(), ContainerName(plain.AttemptID), time.Now().Add(-time.Minute)) {
		t.Errorf("an OOM event found for a container that exited 0")
	}
}

// A command that outlives the OOM kill of a child and exits on its own
// keeps its exit code, as docker run does: the job failed with exit code
// 3, and the message says what the memory limit did.
func TestRunChildOOMKilled(t *testing.T) {
	t.Parallel()
	e := newTestExecutor(t, Config{})
	task := newTask(t, "sh", "-c", `sh -c 'x=a; while true; do x=$x$x; done'; echo child=$?; exit 3`)
	task.Spec.Resources.MemoryMB = 16
	out := newSink("")
	res := e.Run(context.Background(), task, out)
	if res.Reason != "" || exitCode(res) != "3" || !strings.Contains(res.Message, "exited with code 3 after a process of it was killed for exceeding the memory limit of 16 MiB") {
		t.Fatalf("result %+v (exit %s), want exit 3 with no reason and a message on the memory limit", res, exitCode(res))
	}
	if !strings.Contains(out.String(drover.Stdout), "child=137") {
		t.Errorf("output %q: the child was not killed", out.String(drover.Stdout))
	}
	assertGone(t, e, task.AttemptID)
}

// usageScript fills 40 MiB of the tmpfs /tmp, which is charged to the
// container's memory, and burns a second of CPU as the container's cgroup
// counts it (v1 or v2). It then waits for a file named seen.
const usageScript = `head -c 41943040 /dev/zero > /tmp/fill
if [ -f /sys/fs/cgroup/cpu.stat ]; then
	used() { echo $(( $(sed -n 's/^usage_usec //p' /sys/fs/cgroup/cpu.stat) * 1000 )); }
else
	used() { cat /sys/fs/cgroup/cpuacct/cpuacct.usage; }
fi
while [ $(used) -lt 1000000000 ]; do :; done
echo burnt
while [ ! -e seen ]; do sleep 0.1; done`

func TestRunUsage(t *testing.T) {
	t.Parallel()
	e := newTestExecutor(t, Config{})
	task := newTask(t, "sh", "-c", usageScript)
	task.Spec.Resources = drover.Resources{CPU: 1000, MemoryMB: 128}
	out := newSink("burnt")
	done := runAsync(context.Background(), e, task, out)
	out.await(t, done)
	// The run samples the engine's stats stream. The command ends once the
	// engine reported what it used, and once more after that: the run's
	// stream carries the same samples.
	awaitStats(t, e, ContainerName(task.AttemptID), 40<<20, 1)
	if err := os.WriteFile(filepath.Join(task.Workspace, "seen"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	res := awaitResult(t, done, time.Minute)
	if exitCode(res) != "0" {
		t.Fatalf("result %+v\nstderr: %s", res, out.String(drover.Stderr))
	}
	t.Logf("usage %+v", res.Usage)
	if res.Usage.PeakMemoryBytes < 40<<20 {
		t.Errorf("peak memory %d, want at least 40 MiB", res.Usage.PeakMemoryBytes)
	}
	if res.Usage.CPUSeconds < 0.5 {
		t.Errorf("CPU seconds %.2f, want at least 0.5", res.Usage.CPUSeconds)
	}
}

// awaitStats waits until the engine's stats of container name show at least
// memory bytes and cpu seconds, then for one more sample.
func awaitStats(t *testing.T, e *Executor, name string, memory int64, cpu float64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := e.cli.ContainerStats(ctx, name, client.ContainerStatsOptions{Stream: true})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	var st container.StatsResponse
	for seen := false; ; {
		if err := dec.Decode(&st); err != nil {
			t.Fatalf("the engine's stats ended before showing %d bytes and %.1f CPU seconds (last: %d bytes, %d ns): %v",
				memory, cpu, max(st.MemoryStats.MaxUsage, st.MemoryStats.Usage), st.CPUStats.CPUUsage.TotalUsage, err)
		}
		if seen {
			return
		}
		seen = int64(max(st.MemoryStats.MaxUsage, st.MemoryStats.Usage)) >= memory &&
			float64(st.CPUStats.CPUUsage.TotalUsage)/1e9 >= cpu
	}
}

func TestRunCancel(t *testing.T) {
	t.Parallel()
	e := newTestExecutor(t, Config{})
	task := newTask(t, "sh", "-c", "echo ready; sleep 300")
	// SIGTERM reaches sleep through docker-init, so no grace is waited:
	// Run returns long before this one ends.
	task.Grace = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := newSink("ready")
	done := runAsync(ctx, e, task, out)
	out.await(t, done) // output arrives live, while the command runs
	cancel()
	res := awaitResult(t, done, time.Minute)
	if res.Reason != "" || exitCode(res) != "143" {
		t.Errorf("result %+v (exit %s), want exit 143 (SIGTERM)", res, exitCode(res))
	}
	assertGone(t, e, task.AttemptID)
}

// A run cancelled at any moment of its start leaves no container: the
// engine finishes a create whose request was abandoned, so the removal must
// come after it. The cancellations fall before, during and after the
// create. A leftover would appear after Run returned, so its absence is
// checked for a while: there is no event for a container never made.
func TestRunCancelledWhileStartingLeavesNoContainer(t *testing.T) {
	t.Parallel()
	e := newTestExecutor(t, Config{})
	var names []string
	t.Cleanup(func() {
		for _, n := range names {
			e.remove(context.Background(), n)
		}
	})
	for i := range 40 {
		task := newTask(t, "sleep", "300")
		ctx, cancel := context.WithCancel(context.Background())
		done := runAsync(ctx, e, task, newSink(""))
		time.AfterFunc(time.Duration(i)*time.Millisecond, cancel)
		awaitResult(t, done, task.Grace+time.Minute)
		cancel()
		names = append(names, ContainerName(task.AttemptID))
	}
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		for _, n := range names {
			if _, err := e.cli.ContainerInspect(context.Background(), n, client.ContainerInspectOptions{}); err == nil {
				t.Fatalf("container %s was left behind by a run cancelled as it started", n)
			}
		}
	}
}

func TestRunTermReachesProcessGroup(t *testing.T) {
	t.Parallel()
	e := newTestExecutor(t, Config{})
	// The shell runs its trap only once its foreground sleep has ended,
	// which happens at once only if sleep got the SIGTERM too.
	task := newTask(t, "sh", "-c", `trap "echo got TERM; exit 3" TERM; echo ready; sleep 300`)
	task.Grace = 60 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := newSink("ready")
	done := runAsync(ctx, e, task, out)
	out.await(t, done)
	cancel()
	res := awaitResult(t, done, 20*time.Second)
	if exitCode(res) != "3" || !strings.Contains(out.String(drover.Stdout), "got TERM") {
		t.Errorf("result %+v (exit %s), stdout %q: want the trap's exit 3", res, exitCode(res), out.String(drover.Stdout))
	}
	assertGone(t, e, task.AttemptID)
}

func TestRunKillsAfterGrace(t *testing.T) {
	t.Parallel()
	e := newTestExecutor(t, Config{})
	// An ignored SIGTERM is inherited: neither the shell nor its sleeps stop.
	task := newTask(t, "sh", "-c", `trap "" TERM; echo ready; while true; do sleep 1; done`)
	task.Grace = 1500 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := newSink("ready")
	done := runAsync(ctx, e, task, out)
	out.await(t, done)
	cancelled := time.Now()
	cancel()
	res := awaitResult(t, done, task.Grace+30*time.Second)
	if took := time.Since(cancelled); took < task.Grace {
		t.Errorf("Run returned %v after cancel, before the %v grace", took, task.Grace)
	}
	if exitCode(res) != "137" {
		t.Errorf("result %+v (exit %s), want 137 (SIGKILL)", res, exitCode(res))
	}
	assertGone(t, e, task.AttemptID)
}

func TestRunTimeout(t *testing.T) {
	t.Parallel()
	e := newTestExecutor(t, Config{})
	// The deadline must pass after the container started. A busy machine
	// may take longer than the first one to start it: then the run is
	// tried again with a longer deadline.
	var (
		task *executor.Task
		ctx  context.Context
		done <-chan executor.Result
	)
	for timeout := 2 * time.Second; task == nil; timeout *= 2 {
		try := newTask(t, "sleep", "300")
		try.Grace = 5 * time.Second
		started := make(chan struct{})
		try.OnStart = func(time.Duration) { close(started) }
		tctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		tdone := runAsync(tctx, e, try, newSink(""))
		select {
		case <-started:
			task, ctx, done = try, tctx, tdone
		case res := <-tdone:
			if timeout >= time.Minute {
				t.Fatalf("run ended before it started, with a deadline of %s: %+v", timeout, res)
			}
			t.Logf("the deadline of %s passed before the container started: trying a longer one", timeout)
			assertGone(t, e, try.AttemptID)
		}
	}
	res := awaitResult(t, done, 30*time.Second)
	if !errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		t.Fatalf("cause %v", context.Cause(ctx))
	}
	if exitCode(res) != "143" {
		t.Errorf("result %+v (exit %s), want 143 (SIGTERM)", res, exitCode(res))
	}
	assertGone(t, e, task.AttemptID)
}

func TestRunImageMissing(t *testing.T) {
	t.Parallel()
	// 127.0.0.1:1 refuses connections at once: a registry that cannot be
	// reached, without waiting on the outside world.
	const absent = "127.0.0.1:1/drover-test/absent:1"
	for _, tc := range []struct {
		pull PullPolicy
		want string
	}{
		{PullNever, `image 127.0.0.1:1/drover-test/absent:1 is not on worker %s and could not be pulled: the pull policy is "never"`},
		{PullMissing, "image 127.0.0.1:1/drover-test/absent:1 is not on worker %s and could not be pulled: the registry refused the connection"},
	} {
		t.Run(string(tc.pull), func(t *testing.T) {
			e := newTestExecutor(t, Config{Pull: tc.pull, Registries: []string{"127.0.0.1:1"}})
			task := newTask(t, "true")
			task.Spec.Image = absent
			task.OnStart = func(time.Duration) { t.Error("OnStart called for a run that never started") }
			res := e.Run(context.Background(), task, newSink(""))
			want := fmt.Sprintf(tc.want, e.cfg.WorkerID)
			if res.Reason != drover.ReasonExecutorError || !strings.HasPrefix(res.Message, want) {
				t.Errorf("result %+v, want executor_error with message %q", res, want)
			}
			t.Logf("message: %s", res.Message)
			assertGone(t, e, task.AttemptID)
		})
	}
}

func TestRunPullAlwaysFallsBackToLocal(t *testing.T) {
	t.Parallel()
	e := newTestExecutor(t, Config{Pull: PullAlways, Registries: []string{"127.0.0.1:1"}})
	// A name whose registry refuses connections, for an image that is here.
	const local = "127.0.0.1:1/drover-test/busybox:always"
	ctx := context.Background()
	if _, err := e.cli.ImageTag(ctx, client.ImageTagOptions{Source: testImage, Target: local}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Removes the tag only: the test image has its own name.
		if _, err := e.cli.ImageRemove(ctx, local, client.ImageRemoveOptions{}); err != nil {
			t.Errorf("remove tag %s: %v", local, err)
		}
	})
	task := newTask(t, "true")
	task.Spec.Image = local
	res := e.Run(ctx, task, newSink(""))
	if exitCode(res) != "0" {
		t.Errorf("result %+v, want the local image to run", res)
	}
}

// A command given as one string needs a shell in the image: without one
// the message says so, and what to do.
func TestRunStringCommandWithoutAShell(t *testing.T) {
	t.Parallel()
	e := newTestExecutor(t, Config{})
	task := newTask(t, "sh", "-c", "echo hi")
	task.Spec.Env = map[string]string{"PATH": "/no/shell/here"} // as an image without sh
	res := e.Run(context.Background(), task, newSink(""))
	if exitCode(res) != "127" || !strings.Contains(res.Message, "the image has no sh") {
		t.Errorf("result %+v (exit %s, init %v): want 127 and a message on the missing shell", res, exitCode(res), e.init)
	}
	assertGone(t, e, task.AttemptID)
}

func TestRunCommandStartFailure(t *testing.T) {
	t.Parallel()
	e := newTestExecutor(t, Config{})
	task := newTask(t, "/no/such/program")
	out := newSink("")
	res := e.Run(context.Background(), task, out)
	// docker-init reports a program it cannot exec with exit 127, as a shell
	// does; without an init the engine's start fails, and the executor
	// reads that failure into the same end (TestCommandCannotRun).
	if exitCode(res) != "127" || res.Reason != "" || !strings.Contains(out.String(drover.Stderr), "/no/such/program") {
		t.Errorf("result %+v (exit %s, init %v), stderr %q: want exit 127 and the program named", res, exitCode(res), e.init, out.String(drover.Stderr))
	}
	// The job's message says why, as the process executor's does.
	if !strings.Contains(res.Message, "cannot run the command") || !strings.Contains(res.Message, "/no/such/program") {
		t.Errorf("message %q does not say the command could not be run", res.Message)
	}
	assertGone(t, e, task.AttemptID)
}

func TestInitExecFailure(t *testing.T) {
	for _, tc := range []struct{ stderr, want string }{
		{"[FATAL tini (7)] exec nosuchcmd failed: No such file or directory\n", "exec nosuchcmd failed: No such file or directory"},
		{"output\n[FATAL tini (8)] exec /x failed: Permission denied\n", "exec /x failed: Permission denied"},
		{"sh: line 1: nosuchcmd: not found\n", ""},
		{"[FATAL tini (8)] something else\n", ""},
	} {
		if got := initExecFailure(tc.stderr); got != tc.want {
			t.Errorf("initExecFailure(%q) = %q, want %q", tc.stderr, got, tc.want)
		}
	}
}

// TestCommandCannotRun reads the engine's start failures (runc's words,
// without docker-init) into the shell's exit codes; other failures stay the
// machine's.
func TestCommandCannotRun(t *testing.T) {
	const prefix = "Error response from daemon: failed to create task for container: failed to create shim task: " +
		"OCI runtime create failed: runc create failed: unable to start container process: error during container init: "
	for _, c := range []struct {
		err  string
		code int
		msg  string
	}{
		{prefix + `exec: "nosuch": executable file not found in $PATH: unknown`, 127,
			`cannot run the command: exec: "nosuch": executable file not found in $PATH`},
		{prefix + `exec: "/no/such/program": stat /no/such/program: no such file or directory: unknown`, 127,
			`cannot run the command: exec: "/no/such/program": stat /no/such/program: no such file or directory`},
		{prefix + `exec: "/etc/passwd": permission denied: unknown`, 126,
			`cannot run the command: exec: "/etc/passwd": permission denied`},
		{prefix + `error mounting "/srv/ws" to rootfs at "/workspace": no such file or directory: unknown`, 0, ""},
		{"Cannot connect to the Docker daemon at unix:///var/run/docker.sock", 0, ""},
	} {
		code, msg, ok := commandCannotRun(errors.New(c.err))
		if ok != (c.code != 0) || code != c.code || msg != c.msg {
			t.Errorf("commandCannotRun(%q) = %d, %q, %v; want %d, %q", c.err, code, msg, ok, c.code, c.msg)
		}
	}
}

var _ executor.Sink = (*sink)(nil)

// Under a core the CPU quota is counted over a one-second period, so a
// container's start is not throttled; from one core up it is the engine's
// usual NanoCPUs (100 ms period). The share is the same either way.
func TestCPULimitPeriods(t *testing.T) {
	e := newTestExecutor(t, Config{})
	if !e.cfsPeriod {
		t.Fatal("the engine reports no CFS period and quota support")
	}
	e.ncpu = 4
	for _, tc := range []struct {
		milli                   int64
		period, quota, nanoCPUs int64
	}{
		{milli: 1, period: 1_000_000, quota: 10_000},    // raised to the engine's 0.01 core
		{milli: 100, period: 1_000_000, quota: 100_000}, // 100 ms of each second
		{milli: 999, period: 1_000_000, quota: 999_000},
		{milli: 1000, nanoCPUs: 1_000_000_000},
		{milli: 2500, nanoCPUs: 2_500_000_000},
		{milli: 64000, nanoCPUs: 4_000_000_000}, // capped at the machine's cores
	} {
		task := newTask(t, "true")
		task.Spec.Resources.CPU = tc.milli
		opts, err := e.containerOptions(task, "x")
		if err != nil {
			t.Fatal(err)
		}
		r := opts.HostConfig.Resources
		if r.CPUPeriod != tc.period || r.CPUQuota != tc.quota || r.NanoCPUs != tc.nanoCPUs {
			t.Errorf("%dm: period %d quota %d nanoCPUs %d; want %d %d %d",
				tc.milli, r.CPUPeriod, r.CPUQuota, r.NanoCPUs, tc.period, tc.quota, tc.nanoCPUs)
		}
	}
	// An engine without CFS bandwidth control would drop a period and
	// quota: NanoCPUs, which it refuses instead, is used there.
	e.cfsPeriod = false
	task := newTask(t, "true")
	task.Spec.Resources.CPU = 100
	opts, err := e.containerOptions(task, "x")
	if err != nil {
		t.Fatal(err)
	}
	if r := opts.HostConfig.Resources; r.CPUPeriod != 0 || r.NanoCPUs != 100_000_000 {
		t.Errorf("without CFS period support: period %d nanoCPUs %d; want 0 and 100000000", r.CPUPeriod, r.NanoCPUs)
	}
}

// A job with no command on an image that has none is the job's failure,
// at once, as a missing command is (127): not an executor error the fleet
// retries.
func TestRunImageWithoutCommand(t *testing.T) {
	t.Parallel()
	e := newTestExecutor(t, Config{})
	ctx := context.Background()
	// An image imported from a file system has no command.
	const noCmd = "drover-test/busybox-nocmd:latest"
	created, err := e.cli.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: testImage, Cmd: []string{"true"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.remove(ctx, created.ID)
	fsTar, err := e.cli.ContainerExport(ctx, created.ID, client.ContainerExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	imported, err := e.cli.ImageImport(ctx, client.ImageImportSource{Source: fsTar, SourceName: "-"}, noCmd, client.ImageImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, imported)
	imported.Close()
	fsTar.Close()

	task := newTask(t)
	task.Spec.Image = noCmd
	out := newSink("")
	res := e.Run(ctx, task, out)
	if res.Reason != "" || exitCode(res) != "127" || !strings.Contains(res.Message, "has no command of its own") {
		t.Fatalf("result %+v (exit %s), want exit 127 saying the image has no command", res, exitCode(res))
	}
	if !strings.Contains(out.String(drover.Stderr), "give the job one") {
		t.Errorf("stderr %q does not say what to do", out.String(drover.Stderr))
	}
	assertGone(t, e, task.AttemptID)
}

// A task's WorkspaceLimit is the container's fsize ulimit, set before its
// command starts: one file cannot pass it, and the writer is killed by
// SIGXFSZ.
func TestRunLimitsFileSize(t *testing.T) {
	t.Parallel()
	e := newTestExecutor(t, Config{})
	task := newTask(t, "sh", "-c", `grep "Max file size" /proc/self/limits; head -c 2097152 /dev/zero > big`)
	task.WorkspaceLimit = 1 << 20
	out := newSink("")
	res := e.Run(context.Background(), task, out)
	if res.ExitCode == nil || *res.ExitCode != 128+int(syscall.SIGXFSZ) || res.Reason != "" {
		t.Errorf("result %+v (exit %s), want exit %d (SIGXFSZ)\nstderr: %s", res, exitCode(res), 128+int(syscall.SIGXFSZ), out.String(drover.Stderr))
	}
	if f := strings.Fields(out.String(drover.Stdout)); len(f) < 5 || f[3] != "1048576" || f[4] != "1048576" {
		t.Errorf("the container's limits say %q, want a file size limit of 1048576 bytes, soft and hard", out.String(drover.Stdout))
	}
	if fi, err := os.Stat(filepath.Join(task.Workspace, "big")); err != nil || fi.Size() != 1<<20 {
		t.Errorf("the big file: %v, %v; want it stopped at 1 MiB", fi, err)
	}
	assertGone(t, e, task.AttemptID)
}
