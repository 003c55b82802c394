//go:build linux

package process

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/executor"

	"golang.org/x/sys/unix"
)

// waitLimit bounds every wait in these tests; it is generous because the
// machine running them may be busy.
const waitLimit = 20 * time.Second

// sink records output per stream and signals every write.
type sink struct {
	mu    sync.Mutex
	bufs  map[drover.Stream]*bytes.Buffer
	wrote chan struct{}
}

func newSink() *sink {
	return &sink{
		bufs:  map[drover.Stream]*bytes.Buffer{drover.Stdout: {}, drover.Stderr: {}},
		wrote: make(chan struct{}, 1),
	}
}

func (s *sink) Write(stream drover.Stream, p []byte) {
	s.mu.Lock()
	s.bufs[stream].Write(p)
	s.mu.Unlock()
	select {
	case s.wrote <- struct{}{}:
	default:
	}
}

func (s *sink) String(stream drover.Stream) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bufs[stream].String()
}

// waitFor waits until stream holds want.
func (s *sink) waitFor(t *testing.T, stream drover.Stream, want string) {
	t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for !strings.Contains(s.String(stream), want) {
		select {
		case <-s.wrote:
		case <-deadline.C:
			t.Fatalf("%s never showed %q; got %q", stream, want, s.String(stream))
		}
	}
}

func newTask(t *testing.T, argv ...string) *executor.Task {
	return &executor.Task{
		AttemptID: "attempt-1",
		JobID:     "job-1",
		Spec:      drover.JobSpec{Command: argv},
		Workspace: t.TempDir(),
		Grace:     10 * time.Second,
	}
}

// run runs task to the end.
func run(t *testing.T, task *executor.Task) (executor.Result, *sink) {
	t.Helper()
	s := newSink()
	res, ok := await(t, runAsync(t, context.Background(), New(nil), task, s))
	if !ok {
		t.Fatalf("Run did not return within %s", waitLimit)
	}
	return res, s
}

// runAsync calls Run in a goroutine; the channel delivers its result.
func runAsync(t *testing.T, ctx context.Context, e *Executor, task *executor.Task, s *sink) <-chan executor.Result {
	t.Helper()
	done := make(chan executor.Result, 1)
	go func() { done <- e.Run(ctx, task, s) }()
	return done
}

func await(t *testing.T, done <-chan executor.Result) (executor.Result, bool) {
	t.Helper()
	select {
	case res := <-done:
		return res, true
	case <-time.After(waitLimit):
		return executor.Result{}, false
	}
}

func wantExit(t *testing.T, res executor.Result, code int) {
	t.Helper()
	if res.Reason != "" || res.ExitCode == nil || *res.ExitCode != code {
		got := "none"
		if res.ExitCode != nil {
			got = strconv.Itoa(*res.ExitCode)
		}
		t.Fatalf("want exit code %d; got exit code %s, reason %q, message %q", code, got, res.Reason, res.Message)
	}
}

func wantFailed(t *testing.T, res executor.Result, msg string) {
	t.Helper()
	if res.Reason != drover.ReasonExecutorError || res.ExitCode != nil || !strings.Contains(res.Message, msg) {
		t.Fatalf("want executor_error with %q; got reason %q, message %q, exit code %v", msg, res.Reason, res.Message, res.ExitCode)
	}
}

// wantCannotRun checks the end of a command that could not be run: exit
// code 127 or 126 as a shell gives, msg in the result and on stderr.
func wantCannotRun(t *testing.T, res executor.Result, out *sink, code int, msg string) {
	t.Helper()
	wantExit(t, res, code)
	if !strings.Contains(res.Message, msg) {
		t.Errorf("message %q, want %q in it", res.Message, msg)
	}
	if got := out.String(drover.Stderr); !strings.HasPrefix(got, "drover: ") || !strings.Contains(got, msg) || !strings.HasSuffix(got, "\n") {
		t.Errorf("stderr %q, want a line \"drover: ...%s...\"", got, msg)
	}
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// pidInfo identifies a process by pid and start time, so that a recycled
// pid is not mistaken for it; an exec keeps both.
type pidInfo struct {
	pid   int
	start string
}

// readPids reads the pids a job wrote, one per line.
func readPids(t *testing.T, path string) []pidInfo {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ps []pidInfo
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("pid file %s: %v", path, err)
		}
		_, start := procStat(pid)
		if start == "" {
			t.Fatalf("process %d is not running", pid)
		}
		ps = append(ps, pidInfo{pid, start})
	}
	return ps
}

// procStat returns the state and start time of process pid, or zeros.
func procStat(pid int) (state byte, start string) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, ""
	}
	f := bytes.Fields(b[bytes.LastIndexByte(b, ')')+1:])
	if len(f) < 20 {
		return 0, ""
	}
	return f[0][0], string(f[19]) // fields 3 and 22 of proc(5)
}

// alive reports whether p still runs. A zombie is gone: it runs nothing and
// holds nothing open, and whoever inherited it may never reap it.
func alive(p pidInfo) bool {
	state, start := procStat(p.pid)
	return start == p.start && state != 'Z'
}

// waitGone polls /pidInfo until every process is gone. SIGKILL is delivered
// at once but the kernel finishes a process asynchronously, and it tells
// only the parent.
func waitGone(t *testing.T, ps []pidInfo) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for _, p := range ps {
		for alive(p) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d still runs", p.pid)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

func TestExitZero(t *testing.T) {
	t.Parallel()
	res, _ := run(t, newTask(t, "true"))
	wantExit(t, res, 0)
	if res.Usage.PeakMemoryBytes <= 0 {
		t.Errorf("PeakMemoryBytes = %d, want > 0", res.Usage.PeakMemoryBytes)
	}
	if res.ImagePull != 0 {
		t.Errorf("ImagePull = %s, want 0", res.ImagePull)
	}
}

func TestExitCode(t *testing.T) {
	t.Parallel()
	res, _ := run(t, newTask(t, "sh", "-c", "exit 3"))
	wantExit(t, res, 3)
}

func TestKilledBySignalIs128Plus(t *testing.T) {
	t.Parallel()
	res, _ := run(t, newTask(t, "sh", "-c", "kill -KILL $$"))
	wantExit(t, res, 128+9)
}

func TestCPUSecondsMeasured(t *testing.T) {
	t.Parallel()
	// Busy for a moment in the shell itself, so the leader's rusage has it.
	res, _ := run(t, newTask(t, "sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"))
	wantExit(t, res, 0)
	if res.Usage.CPUSeconds <= 0 {
		t.Errorf("CPUSeconds = %v, want > 0", res.Usage.CPUSeconds)
	}
}

func TestStdoutAndStderrApartAndInOrder(t *testing.T) {
	t.Parallel()
	res, s := run(t, newTask(t, "sh", "-c",
		`i=1; while [ $i -le 500 ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done`))
	wantExit(t, res, 0)
	var wantOut, wantErr strings.Builder
	for i := 1; i <= 500; i++ {
		fmt.Fprintf(&wantOut, "out %d\n", i)
		fmt.Fprintf(&wantErr, "err %d\n", i)
	}
	if got := s.String(drover.Stdout); got != wantOut.String() {
		t.Errorf("stdout: got %d bytes, want %d; head %q", len(got), wantOut.Len(), got[:min(len(got), 80)])
	}
	if got := s.String(drover.Stderr); got != wantErr.String() {
		t.Errorf("stderr: got %d bytes, want %d; head %q", len(got), wantErr.Len(), got[:min(len(got), 80)])
	}
}

func TestLargeOutputCompleteAndInOrder(t *testing.T) {
	t.Parallel()
	task := newTask(t, "sh", "-c", "cat big & cat big >&2; wait")
	var big bytes.Buffer
	for i := 0; big.Len() < 10<<20; i++ {
		fmt.Fprintf(&big, "%09d\n", i)
	}
	writeFile(t, filepath.Join(task.Workspace, "big"), big.String(), 0o644)

	res, s := run(t, task)
	wantExit(t, res, 0)
	for _, stream := range []drover.Stream{drover.Stdout, drover.Stderr} {
		if got := s.String(stream); got != big.String() {
			t.Errorf("%s: got %d bytes, want %d, equal prefix %d bytes", stream, len(got), big.Len(), commonPrefix(got, big.String()))
		}
	}
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

func TestLoneLineArrivesBeforeExit(t *testing.T) {
	t.Parallel()
	task := newTask(t, "sh", "-c", `echo first; read x < fifo; echo "got $x"`)
	fifo := filepath.Join(task.Workspace, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	s := newSink()
	done := runAsync(t, context.Background(), New(nil), task, s)

	// The process cannot exit before the fifo is written to, so the line
	// reaching the sink now proves it was not held back.
	s.waitFor(t, drover.Stdout, "first\n")
	select {
	case <-done:
		t.Fatal("Run returned before the process was let go")
	default:
	}
	// Opening a fifo for writing blocks until the reader opens it, so do
	// it aside: if the process is gone the test fails below, not hangs.
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		f.WriteString("go\n")
		f.Close()
	}()
	res, ok := await(t, done)
	if !ok {
		t.Fatal("Run did not return after the fifo was written")
	}
	wantExit(t, res, 0)
	if got := s.String(drover.Stdout); got != "first\ngot go\n" {
		t.Errorf("stdout = %q", got)
	}
}

func TestCancelKillsWholeTree(t *testing.T) {
	t.Parallel()
	task := newTask(t, "sh", "-c",
		`sleep 300 & echo $! >> pids; sleep 300 & echo $! >> pids; echo $$ >> pids; echo ready; wait`)
	// Everything dies of the SIGTERM: Run returns within waitLimit, long
	// before the grace ends.
	task.Grace = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := newSink()
	done := runAsync(t, ctx, New(nil), task, s)
	s.waitFor(t, drover.Stdout, "ready")
	ps := readPids(t, filepath.Join(task.Workspace, "pids"))
	if len(ps) != 3 {
		t.Fatalf("want 3 pids, got %v", ps)
	}

	cancel()
	res, ok := await(t, done)
	if !ok {
		t.Fatal("Run did not return after cancel: it waits out the grace")
	}
	wantExit(t, res, 128+int(syscall.SIGTERM))
	waitGone(t, ps)
}

func TestExitKillsLeftovers(t *testing.T) {
	t.Parallel()
	// The background sleep keeps the output pipes open: Run returns only
	// because it kills the group when the shell exits, long before the
	// drain bound.
	task := newTask(t, "sh", "-c", `sleep 300 & echo $! > pids; echo done`)
	e := New(nil)
	e.drainBound = time.Hour
	s := newSink()
	res, ok := await(t, runAsync(t, context.Background(), e, task, s))
	if !ok {
		t.Fatal("Run did not return")
	}
	wantExit(t, res, 0)
	waitGone(t, readPids(t, filepath.Join(task.Workspace, "pids")))
}

// escapingTask is a job whose child leaves its process group (setsid) and
// keeps its output open.
func escapingTask(t *testing.T) *executor.Task {
	return newTask(t, "sh", "-c",
		`setsid sh -c 'echo $$ > pids; exec sleep 300' & while [ ! -s pids ]; do sleep 0.01; done; echo started`)
}

// runToEnd runs task on e with a short drain bound and waits for it.
func runToEnd(t *testing.T, e *Executor, task *executor.Task) (executor.Result, *sink) {
	t.Helper()
	e.drainBound = 100 * time.Millisecond
	s := newSink()
	res, ok := await(t, runAsync(t, context.Background(), e, task, s))
	if !ok {
		t.Fatal("Run did not return")
	}
	return res, s
}

func TestEscapedProcessDoesNotHoldRun(t *testing.T) {
	t.Parallel()
	// setsid moves the sleep out of the job's process group, and it keeps
	// the pipes open; without a work dir it cannot be found: Run stops
	// reading after the drain bound.
	task := escapingTask(t)
	res, s := runToEnd(t, New(nil), task)
	ps := readPids(t, filepath.Join(task.Workspace, "pids"))
	for _, p := range ps {
		syscall.Kill(p.pid, syscall.SIGKILL)
	}
	wantExit(t, res, 0)
	if got := s.String(drover.Stdout); got != "started\n" {
		t.Errorf("stdout = %q", got)
	}
}

// inWorkDir gives task a workspace as a worker lays it out
// (<work dir>/<attempt id>-<n>, attempt ids starting att_) and returns an
// executor that knows that work dir, so it can find the attempt's
// processes by their environment.
func inWorkDir(t *testing.T, task *executor.Task) *Executor {
	t.Helper()
	dir := t.TempDir()
	task.AttemptID = "att_" + strings.ReplaceAll(t.Name(), "/", "_")
	task.Workspace = filepath.Join(dir, task.AttemptID+"-1")
	if err := os.Mkdir(task.Workspace, 0o700); err != nil {
		t.Fatal(err)
	}
	e := New(nil)
	e.SetWorkDir(dir)
	return e
}

// A process that left the job's group but holds its output is found by
// its environment and killed, so the output ends and nothing of the job
// outlives it.
func TestEscapedProcessHoldingOutputIsKilled(t *testing.T) {
	t.Parallel()
	task := escapingTask(t)
	res, _ := runToEnd(t, inWorkDir(t, task), task)
	wantExit(t, res, 0)
	waitGone(t, readPids(t, filepath.Join(task.Workspace, "pids")))
}

// A cancel also kills what left the job's group without its output (a
// daemon writing elsewhere).
func TestCancelKillsEscapedProcesses(t *testing.T) {
	t.Parallel()
	task := newTask(t, "sh", "-c",
		`setsid sh -c 'echo $$ > pids; exec sleep 300' >/dev/null 2>&1 & while [ ! -s pids ]; do sleep 0.01; done; echo ready; sleep 300`)
	e := inWorkDir(t, task)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := newSink()
	done := runAsync(t, ctx, e, task, s)
	s.waitFor(t, drover.Stdout, "ready")
	cancel()
	if _, ok := await(t, done); !ok {
		t.Fatal("Run did not return after cancel")
	}
	waitGone(t, readPids(t, filepath.Join(task.Workspace, "pids")))
}

// cancelWhenReady runs task, cancels it once stdout shows "ready", and
// returns the result and how long Run took after the cancel. Run returns
// within waitLimit or the test fails: a task whose grace is longer than
// that is thereby shown not to wait it out.
func cancelWhenReady(t *testing.T, task *executor.Task) (executor.Result, *sink, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := newSink()
	done := runAsync(t, ctx, New(nil), task, s)
	s.waitFor(t, drover.Stdout, "ready")
	began := time.Now()
	cancel()
	res, ok := await(t, done)
	if !ok {
		t.Fatal("Run did not return after cancel")
	}
	return res, s, time.Since(began)
}

func TestGraceThenKill(t *testing.T) {
	t.Parallel()
	// An ignored SIGTERM is inherited: neither the shell nor its sleep die of it.
	task := newTask(t, "sh", "-c", `trap '' TERM; echo ready; sleep 300`)
	task.Grace = 300 * time.Millisecond
	res, _, took := cancelWhenReady(t, task)
	if took < task.Grace {
		t.Errorf("killed after %s, before the grace of %s", took, task.Grace)
	}
	wantExit(t, res, 128+int(syscall.SIGKILL))
}

// Hurry ends a grace period under way: the worker was told twice to stop.
func TestHurryEndsTheGrace(t *testing.T) {
	t.Parallel()
	task := newTask(t, "sh", "-c", `trap '' TERM; echo ready; sleep 300`)
	task.Grace = time.Hour
	hurry := make(chan struct{})
	task.Hurry = hurry
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := newSink()
	done := runAsync(t, ctx, New(nil), task, s)
	s.waitFor(t, drover.Stdout, "ready")
	cancel() // SIGTERM, which it ignores: an hour's grace begins
	close(hurry)
	res, ok := await(t, done)
	if !ok {
		t.Fatal("Run did not return once hurried")
	}
	wantExit(t, res, 128+int(syscall.SIGKILL))
}

func TestGraceZeroKillsAtOnce(t *testing.T) {
	t.Parallel()
	task := newTask(t, "sh", "-c", `trap 'echo term; exit 0' TERM; echo ready; sleep 300 & wait`)
	task.Grace = 0
	res, s, _ := cancelWhenReady(t, task)
	wantExit(t, res, 128+int(syscall.SIGKILL))
	if strings.Contains(s.String(drover.Stdout), "term") {
		t.Error("the command saw SIGTERM with a grace of 0")
	}
}

func TestCleanExitWithinGrace(t *testing.T) {
	t.Parallel()
	// Only short-lived children: dash runs a trap only between commands,
	// and a child forked in the instant SIGTERM arrives may miss it (dash
	// catches it for the child before exec), which would rightly earn that
	// child the whole grace period.
	task := newTask(t, "sh", "-c", `trap 'echo bye; exit 0' TERM; echo ready; while :; do sleep 0.05; done`)
	task.Grace = time.Hour
	res, s, _ := cancelWhenReady(t, task)
	wantExit(t, res, 0)
	if got := s.String(drover.Stdout); got != "ready\nbye\n" {
		t.Errorf("stdout = %q", got)
	}
}

func TestGraceCoversChildrenOfAShellThatDied(t *testing.T) {
	t.Parallel()
	// The outer shell dies of SIGTERM at once; the script it runs traps
	// SIGTERM and needs a moment to clean up, which it must get. (Short
	// sleeps for the reason given in TestCleanExitWithinGrace.)
	task := newTask(t, "sh", "-c", "sh child.sh; echo unreachable")
	writeFile(t, filepath.Join(task.Workspace, "child.sh"),
		"trap 'sleep 0.2; echo cleaned > cleaned; exit 0' TERM\necho ready\nwhile :; do sleep 0.05; done\n", 0o644)
	task.Grace = time.Hour
	res, _, _ := cancelWhenReady(t, task)
	wantExit(t, res, 128+int(syscall.SIGTERM))
	if _, err := os.Stat(filepath.Join(task.Workspace, "cleaned")); err != nil {
		t.Errorf("the child was not given its grace to clean up: %v", err)
	}
}

func TestCommandNotFound(t *testing.T) {
	t.Parallel()
	task := newTask(t, "drover-no-such-command")
	var started atomic.Int32
	task.OnStart = func(time.Duration) { started.Add(1) }
	res, out := run(t, task)
	wantCannotRun(t, res, out, 127, "command not found: drover-no-such-command (PATH=/usr/local/sbin:")
	if started.Load() != 0 {
		t.Error("OnStart called for a command that never started")
	}
}

func TestNotExecutable(t *testing.T) {
	t.Parallel()
	task := newTask(t, "./run.sh")
	writeFile(t, filepath.Join(task.Workspace, "run.sh"), "#!/bin/sh\necho hi\n", 0o644)
	res, out := run(t, task)
	wantCannotRun(t, res, out, 126, "permission denied: ./run.sh is not executable")
}

func TestMissingFileInWorkspace(t *testing.T) {
	t.Parallel()
	res, out := run(t, newTask(t, "./run.sh"))
	wantCannotRun(t, res, out, 127, "command not found: ./run.sh (no such file in the workspace)")
}

func TestDirectoryIsNotACommand(t *testing.T) {
	t.Parallel()
	task := newTask(t, "./sub")
	if err := os.Mkdir(filepath.Join(task.Workspace, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	res, out := run(t, task)
	wantCannotRun(t, res, out, 126, "cannot run ./sub: it is a directory")
}

func TestMissingInterpreter(t *testing.T) {
	t.Parallel()
	task := newTask(t, "./run.sh")
	writeFile(t, filepath.Join(task.Workspace, "run.sh"), "#!/drover/no/python\nprint(1)\n", 0o755)
	res, out := run(t, task)
	wantCannotRun(t, res, out, 127, "its interpreter /drover/no/python was not found")
}

// A bare name is searched in an existing workspace; a path is executed at
// once and the missing workspace found after: the same message.
func TestWorkspaceMissing(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"true", "/bin/true"} {
		task := newTask(t, name)
		task.Workspace = filepath.Join(task.Workspace, "gone")
		res, _ := run(t, task)
		wantFailed(t, res, "workspace "+task.Workspace+" is not available")
	}
}

// A path with a slash is executed without checks first: why it failed is
// worked out after, with the same messages.
func TestPathFailuresExplainedAfterTheAttempt(t *testing.T) {
	t.Parallel()
	res, out := run(t, newTask(t, "/drover/no/such/program"))
	wantCannotRun(t, res, out, 127, "command not found: /drover/no/such/program (no such file)")

	res, out = run(t, newTask(t, "/etc"))
	wantCannotRun(t, res, out, 126, "cannot run /etc: it is a directory")

	res, out = run(t, newTask(t, "/etc/passwd/x"))
	wantCannotRun(t, res, out, 127, "command not found: /etc/passwd/x (a folder on its path is a file)")
}

func TestEmptyCommand(t *testing.T) {
	t.Parallel()
	res, _ := run(t, newTask(t))
	wantFailed(t, res, "no command")
}

func TestScriptRelativeToWorkspace(t *testing.T) {
	t.Parallel()
	task := newTask(t, "./run.sh", "a b", "c")
	writeFile(t, filepath.Join(task.Workspace, "run.sh"), "#!/bin/sh\nprintf '%s|' \"$0\" \"$@\"\n", 0o755)
	res, s := run(t, task)
	wantExit(t, res, 0)
	if got := s.String(drover.Stdout); got != "./run.sh|a b|c|" {
		t.Errorf("stdout = %q", got)
	}
}

func TestScriptWithoutShebangRunsWithSh(t *testing.T) {
	t.Parallel()
	task := newTask(t, "./run.sh", "x")
	writeFile(t, filepath.Join(task.Workspace, "run.sh"), "echo \"plain $1\"\n", 0o755)
	res, s := run(t, task)
	wantExit(t, res, 0)
	if got := s.String(drover.Stdout); got != "plain x\n" {
		t.Errorf("stdout = %q", got)
	}
}

func TestProgramFoundInJobPATH(t *testing.T) {
	t.Parallel()
	// A relative PATH entry is relative to the workspace, as for a shell
	// started there; the job's PATH replaces the default one.
	task := newTask(t, "mytool")
	task.Spec.Env = map[string]string{"PATH": "tools/bin:/usr/bin:/bin"}
	writeFile(t, filepath.Join(task.Workspace, "tools/bin/mytool"), "#!/bin/sh\necho \"mytool $PATH\"\n", 0o755)
	res, s := run(t, task)
	wantExit(t, res, 0)
	if got := s.String(drover.Stdout); got != "mytool tools/bin:/usr/bin:/bin\n" {
		t.Errorf("stdout = %q", got)
	}
}

func TestWorkspaceIsWorkingDirectory(t *testing.T) {
	t.Parallel()
	task := newTask(t, "pwd", "-P")
	res, s := run(t, task)
	wantExit(t, res, 0)
	want, err := filepath.EvalSymlinks(task.Workspace)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.String(drover.Stdout); got != want+"\n" {
		t.Errorf("pwd = %q, want %q", got, want)
	}
}

func TestStdinIsEmpty(t *testing.T) {
	t.Parallel()
	res, s := run(t, newTask(t, "sh", "-c", "wc -c"))
	wantExit(t, res, 0)
	if got := strings.TrimSpace(s.String(drover.Stdout)); got != "0" {
		t.Errorf("bytes on stdin = %q", got)
	}
}

// Not parallel: it sets an environment variable of the test process.
func TestEnvironment(t *testing.T) {
	leak := fmt.Sprintf("DROVER_TEST_WORKER_ONLY_%d", os.Getpid())
	t.Setenv(leak, "leaked")
	task := newTask(t, "env")
	task.Spec.Env = map[string]string{"GREETING": "hello world", "LANG": "C"}
	res, s := run(t, task)
	wantExit(t, res, 0)
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(s.String(drover.Stdout)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		got[k] = v
	}
	want := map[string]string{
		"GREETING":          "hello world",
		"LANG":              "C", // the job's env wins over the base
		"HOME":              task.Workspace,
		"DROVER_JOB_ID":     "job-1",
		"DROVER_ATTEMPT_ID": "attempt-1",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if v, ok := got[leak]; ok {
		t.Errorf("the worker's own %s=%q reached the job", leak, v)
	}
}

func TestOnStartCalledOnce(t *testing.T) {
	t.Parallel()
	task := newTask(t, "sh", "-c", "echo hi")
	var calls atomic.Int32
	var pull atomic.Int64
	task.OnStart = func(imagePull time.Duration) {
		calls.Add(1)
		pull.Store(int64(imagePull))
	}
	res, _ := run(t, task)
	wantExit(t, res, 0)
	if calls.Load() != 1 || pull.Load() != 0 {
		t.Errorf("OnStart called %d times, imagePull %s; want once with 0", calls.Load(), time.Duration(pull.Load()))
	}
}

func TestName(t *testing.T) {
	if got := New(nil).Name(); got != "process" {
		t.Errorf("Name() = %q", got)
	}
}

func BenchmarkRunTrue(b *testing.B) {
	e := New(nil)
	task := &executor.Task{
		AttemptID: "attempt-1",
		JobID:     "job-1",
		Spec:      drover.JobSpec{Command: drover.Command{"/bin/true"}},
		Workspace: b.TempDir(),
	}
	s := newSink()
	ctx := context.Background()
	for b.Loop() {
		if res := e.Run(ctx, task, s); res.ExitCode == nil || *res.ExitCode != 0 {
			b.Fatalf("result %+v", res)
		}
	}
}

// TestMain lets TestWorkerKilledTakesChildAlong re-run this test binary as
// a stand-in worker.
func TestMain(m *testing.M) {
	if ws := os.Getenv("DROVER_PROCESS_TEST_WORKER"); ws != "" {
		workerMain(ws)
		return
	}
	os.Exit(m.Run())
}

// stdoutSink passes the job's stdout through to ours.
type stdoutSink struct{}

func (stdoutSink) Write(stream drover.Stream, p []byte) {
	if stream == drover.Stdout {
		os.Stdout.Write(p)
	}
}

// workerMain runs a job that records its pid and sleeps, until killed; as
// the uid in DROVER_PROCESS_TEST_UID when set.
func workerMain(ws string) {
	task := &executor.Task{
		AttemptID: "attempt-1",
		JobID:     "job-1",
		Spec:      drover.JobSpec{Command: drover.Command{"sh", "-c", "echo $$ > pids; echo ready; exec sleep 300"}},
		Workspace: ws,
	}
	if v := os.Getenv("DROVER_PROCESS_TEST_UID"); v != "" {
		uid, _ := strconv.ParseUint(v, 10, 32)
		task.User = &executor.User{UID: uint32(uid), GID: uint32(uid), Name: "drover-job"}
	}
	New(nil).Run(context.Background(), task, stdoutSink{})
	os.Exit(1)
}

func TestWorkerKilledTakesChildAlong(t *testing.T) {
	t.Parallel()
	workerKilledTakesChildAlong(t, t.TempDir(), nil)
}

// The kernel clears a parent-death signal when a process changes its
// credentials: the job must still die with its worker when it runs as
// another user.
func TestWorkerKilledTakesChildOfAnotherUserAlong(t *testing.T) {
	needRoot(t)
	t.Parallel()
	task := newTask(t)
	asUser(t, task, testUID+3)
	workerKilledTakesChildAlong(t, task.Workspace, task.User)
}

func workerKilledTakesChildAlong(t *testing.T, ws string, u *executor.User) {
	worker := exec.Command(os.Args[0], "-test.run=^$")
	worker.Env = append(os.Environ(), "DROVER_PROCESS_TEST_WORKER="+ws)
	if u != nil {
		worker.Env = append(worker.Env, fmt.Sprintf("DROVER_PROCESS_TEST_UID=%d", u.UID))
	}
	out, err := worker.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := worker.Start(); err != nil {
		t.Fatal(err)
	}
	defer worker.Process.Kill()
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(out).ReadString('\n')
		if err == nil && line != "ready\n" {
			err = fmt.Errorf("worker printed %q", line)
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitLimit):
		t.Fatal("the job never started")
	}
	ps := readPids(t, filepath.Join(ws, "pids"))
	if u != nil {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", ps[0].pid)); err != nil || !strings.Contains(string(b), fmt.Sprintf("\nUid:\t%d\t", u.UID)) {
			t.Fatalf("the job does not run as uid %d: %v\n%s", u.UID, err, b)
		}
	}

	worker.Process.Signal(syscall.SIGKILL)
	worker.Wait()
	// Pdeathsig: the kernel kills the job when the worker dies.
	waitGone(t, ps)
}

// A program still open for writing for a moment (a bundle's, while another
// attempt's fork holds the descriptor it was written through) is started
// once it is free; one that stays busy is the machine's failure, not the
// job's.
func TestBusyProgramStartedOnceFree(t *testing.T) {
	t.Parallel()
	task := newTask(t, "./run.sh")
	path := filepath.Join(task.Workspace, "run.sh")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("#!/bin/sh\necho ran\n"); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	task.OnStart = func(time.Duration) { close(started) }
	refused := watchRefusedExec(t, path)
	s := newSink()
	done := runAsync(t, context.Background(), New(nil), task, s)
	// Held open until the first start has been refused.
	refused()
	f.Close()
	res, ok := await(t, done)
	if !ok {
		t.Fatal("Run did not return")
	}
	wantExit(t, res, 0)
	if s.String(drover.Stdout) != "ran\n" {
		t.Errorf("stdout %q, want the program's output", s.String(drover.Stdout))
	}

	busy := newTask(t, "./run.sh")
	g, err := os.OpenFile(filepath.Join(busy.Workspace, "run.sh"), os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	res, out := run(t, busy)
	wantFailed(t, res, "cannot run ./run.sh: the file is open for writing (text file busy)")
	if out.String(drover.Stderr) != "" {
		t.Errorf("stderr %q: the machine's failure is not the job's output", out.String(drover.Stderr))
	}
}

// watchRefusedExec returns a function that waits until a start of the
// program at path was refused. The kernel opens a program to execute it.
// Refusing it, it closes it again at once, which inotify reports as a close
// without writing. A program that runs keeps the file open until it exits.
// Nothing else opens the program before the first start.
func watchRefusedExec(t *testing.T, path string) func() {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	events := os.NewFile(uintptr(fd), "inotify")
	t.Cleanup(func() { events.Close() })
	if _, err := unix.InotifyAddWatch(fd, path, unix.IN_CLOSE_NOWRITE); err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		if err := events.SetReadDeadline(time.Now().Add(waitLimit)); err != nil {
			t.Fatal(err)
		}
		if _, err := events.Read(make([]byte, 4096)); err != nil {
			t.Fatalf("no start of %s was refused: %v", path, err)
		}
	}
}

// A program on a file system mounted noexec cannot run on this worker, but
// could on another: the machine's failure (executor_error), not exit 126.
func TestNoexecMountIsTheMachines(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOEXEC, "size=1m"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mount a noexec tmpfs (CI runs as root): %v", err)
		}
		t.Skipf("mount a noexec tmpfs needs root: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	ws := filepath.Join(dir, "ws")
	writeFile(t, filepath.Join(ws, "run.sh"), "#!/bin/sh\necho hi\n", 0o755)
	writeFile(t, filepath.Join(dir, "tool"), "#!/bin/sh\necho hi\n", 0o755)
	for _, c := range []struct{ argv0, msg string }{
		{"./run.sh", "cannot run ./run.sh: the workspace's file system is mounted noexec on this worker (give the worker a --work-dir"},
		{filepath.Join(dir, "tool"), "cannot run " + filepath.Join(dir, "tool") + ": its file system is mounted noexec on this worker"},
	} {
		task := newTask(t, c.argv0)
		task.Workspace = ws
		res, _ := run(t, task)
		wantFailed(t, res, c.msg)
	}
}

// A task's WorkspaceLimit is its process's file size limit: one file
// cannot pass it, and the writer is killed by SIGXFSZ. The command waits
// for OnStart, which comes after the limit is set, since the limit is set
// just after the exec.
func TestRunLimitsFileSize(t *testing.T) {
	task := newTask(t, "sh", "-c", `while [ ! -e go ]; do :; done; grep "Max file size" /proc/$$/limits; head -c 2097152 /dev/zero > big`)
	task.WorkspaceLimit = 1 << 20
	task.OnStart = func(time.Duration) {
		if err := os.WriteFile(filepath.Join(task.Workspace, "go"), nil, 0o644); err != nil {
			t.Error(err)
		}
	}
	res, s := run(t, task)
	wantExit(t, res, 128+int(syscall.SIGXFSZ))
	if f := strings.Fields(s.String(drover.Stdout)); len(f) < 5 || f[3] != "1048576" || f[4] != "1048576" {
		t.Errorf("the command's limits say %q, want a file size limit of 1048576 bytes, soft and hard", s.String(drover.Stdout))
	}
	if fi, err := os.Stat(filepath.Join(task.Workspace, "big")); err != nil || fi.Size() != 1<<20 {
		t.Errorf("the big file: %v, %v; want it stopped at 1 MiB", fi, err)
	}
}
