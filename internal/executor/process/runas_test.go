//go:build linux

package process

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/executor"
)

// testUID is an id no one uses, for jobs of these tests.
const testUID uint32 = 0x7E001000

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("this test switches users: CI runs as root")
		}
		t.Skip("this test switches users, which needs root")
	}
}

// asUser makes task run as uid, in a workspace laid out as a root worker
// lays it out: a work dir others may search but not list, the workspace
// the user's, mode 0700. It returns an executor that knows the work dir.
func asUser(t *testing.T, task *executor.Task, uid uint32) *Executor {
	t.Helper()
	e := inWorkDir(t, task)
	dir := filepath.Dir(task.Workspace)
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(task.Workspace, int(uid), int(uid)); err != nil {
		t.Fatal(err)
	}
	task.User = &executor.User{UID: uid, GID: uid, Name: "drover-job"}
	return e
}

// A task with a user runs as that uid and gid, with no other group, and
// says who it is in USER and LOGNAME.
func TestRunsAsTheTasksUser(t *testing.T) {
	needRoot(t)
	t.Parallel()
	task := newTask(t, "sh", "-c", `echo "$(id -u) $(id -g) $(id -G) $USER $LOGNAME"; touch made`)
	e := asUser(t, task, testUID)
	res, s := runToEnd(t, e, task)
	wantExit(t, res, 0)
	want := fmt.Sprintf("%d %d %d drover-job drover-job\n", testUID, testUID, testUID)
	if got := s.String(drover.Stdout); got != want {
		t.Errorf("stdout %q, want %q (stderr %q)", got, want, s.String(drover.Stderr))
	}
	fi, err := os.Stat(filepath.Join(task.Workspace, "made"))
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != testUID || st.Gid != testUID {
		t.Errorf("the job's file is %d:%d, want %d:%d", st.Uid, st.Gid, testUID, testUID)
	}
}

// A cancel kills what a job running as another user moved out of its
// group: the worker, root, reads its environment.
func TestCancelKillsEscapedProcessesOfAnotherUser(t *testing.T) {
	needRoot(t)
	t.Parallel()
	task := newTask(t, "sh", "-c",
		`setsid sh -c 'echo $$ > pids; exec sleep 300' >/dev/null 2>&1 & while [ ! -s pids ]; do sleep 0.01; done; echo ready; sleep 300`)
	e := asUser(t, task, testUID+1)
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

// A workspace its user cannot reach, a folder above it being closed to
// others, is the machine's failure, said as such, not the program's.
func TestUnreachableWorkspaceIsTheMachines(t *testing.T) {
	needRoot(t)
	t.Parallel()
	task := newTask(t, "/bin/true")
	e := asUser(t, task, testUID+2)
	if err := os.Chmod(filepath.Dir(task.Workspace), 0o700); err != nil {
		t.Fatal(err)
	}
	res, s := runToEnd(t, e, task)
	wantFailed(t, res, "the job's user cannot enter its workspace: "+filepath.Dir(task.Workspace)+" (mode 0700")
	if !strings.Contains(res.Message, "--work-dir") || s.String(drover.Stderr) != "" {
		t.Errorf("message %q, stderr %q: want the fix named, and nothing on the job's stderr", res.Message, s.String(drover.Stderr))
	}
}

// A program in a folder closed to the job's user cannot be run: the job's
// failure (126), saying which folder stops it.
func TestProgramOutOfTheUsersReach(t *testing.T) {
	needRoot(t)
	t.Parallel()
	closed := t.TempDir()
	prog := filepath.Join(closed, "tool")
	writeFile(t, prog, "#!/bin/sh\necho hi\n", 0o755)
	task := newTask(t, prog)
	e := asUser(t, task, testUID+4)
	if err := os.Chmod(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	res, s := runToEnd(t, e, task)
	wantCannotRun(t, res, s, 126, fmt.Sprintf("permission denied: %s cannot be reached by the job's user (uid %d): %s (mode 0700", prog, testUID+4, closed))
}

// BenchmarkRunTrueAsAUser is BenchmarkRunTrue with what a root worker adds
// per job: the workspace given to a uid not used just before (the worker
// goes round a range), and the switch to it.
func BenchmarkRunTrueAsAUser(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("switching users needs root")
	}
	dir := b.TempDir()
	if err := os.Chmod(filepath.Dir(dir), 0o711); err != nil {
		b.Fatal(err)
	}
	e := New(nil)
	task := &executor.Task{
		AttemptID: "attempt-1",
		JobID:     "job-1",
		Spec:      drover.JobSpec{Command: drover.Command{"/bin/true"}},
		Workspace: dir,
	}
	s := newSink()
	ctx := context.Background()
	for i := uint32(0); b.Loop(); i++ {
		uid := testUID + 0x100 + i%4096
		if err := os.Chown(dir, int(uid), int(uid)); err != nil {
			b.Fatal(err)
		}
		task.User = &executor.User{UID: uid, GID: uid, Name: "drover-job"}
		if res := e.Run(ctx, task, s); res.ExitCode == nil || *res.ExitCode != 0 {
			b.Fatalf("result %+v", res)
		}
	}
}

// BenchmarkRunTrueParallelAsUsers is BenchmarkRunTrueParallel with what a
// root worker adds per job: a workspace of its own given to a uid not used
// just before, and the switch to it.
func BenchmarkRunTrueParallelAsUsers(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("switching users needs root")
	}
	root := b.TempDir()
	if err := os.Chmod(filepath.Dir(root), 0o711); err != nil {
		b.Fatal(err)
	}
	if err := os.Chmod(root, 0o711); err != nil {
		b.Fatal(err)
	}
	e := New(nil)
	var next atomic.Uint32
	b.SetParallelism(32) // × GOMAXPROCS (2) = 64 in flight
	b.RunParallel(func(pb *testing.PB) {
		dir, err := os.MkdirTemp(root, "ws-")
		if err != nil {
			b.Error(err)
			return
		}
		for pb.Next() {
			uid := testUID + 0x100 + next.Add(1)%4096
			if err := os.Chown(dir, int(uid), int(uid)); err != nil {
				b.Error(err)
				return
			}
			t := &executor.Task{AttemptID: "attempt-1", JobID: "job-1", Spec: drover.JobSpec{Command: drover.Command{"/bin/true"}}, Workspace: dir,
				User: &executor.User{UID: uid, GID: uid, Name: "drover-job"}}
			if res := e.Run(context.Background(), t, discard{}); res.ExitCode == nil || *res.ExitCode != 0 {
				b.Errorf("result %+v", res)
				return
			}
		}
	})
}

// A job of its own uid gets its file size limit too, whether or not the
// worker has CAP_SYS_RESOURCE (without it the limit is set while the
// command is stopped at its exec); one of a shared user still runs, with a
// warning when the limit cannot be set.
func TestRunLimitsFileSizeOfAnotherUser(t *testing.T) {
	needRoot(t)
	t.Parallel()
	task := newTask(t, "sh", "-c", `grep "Max file size" /proc/$$/limits; head -c 2097152 /dev/zero > big`)
	e := asUser(t, task, testUID+5)
	task.User.Exclusive = true
	task.WorkspaceLimit = 1 << 20
	res, s := runToEnd(t, e, task)
	wantExit(t, res, 128+int(syscall.SIGXFSZ))
	if f := strings.Fields(s.String(drover.Stdout)); len(f) < 5 || f[3] != "1048576" || f[4] != "1048576" {
		t.Errorf("the command's limits say %q, want a file size limit of 1048576 bytes, soft and hard", s.String(drover.Stdout))
	}
	if fi, err := os.Stat(filepath.Join(task.Workspace, "big")); err != nil || fi.Size() != 1<<20 {
		t.Errorf("the big file: %v, %v; want it stopped at 1 MiB", fi, err)
	}

	shared := newTask(t, "sh", "-c", "id -u")
	e = asUser(t, shared, testUID+6)
	shared.WorkspaceLimit = 1 << 20
	res, s = runToEnd(t, e, shared)
	wantExit(t, res, 0)
	if got := strings.TrimSpace(s.String(drover.Stdout)); got != fmt.Sprint(testUID+6) {
		t.Errorf("a job of a shared user printed %q, want its uid", got)
	}
}
