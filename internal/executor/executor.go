// Package executor holds the types shared by the worker and the executors
// it drives.
// The executors are internal/executor/process, internal/executor/docker and
// internal/executor/noop. The types say what to run, where its output goes
// and how the run ended.
//
// The Executor interface is not here. It is worker.Executor, in
// internal/worker/worker.go.
// The worker is its one consumer, and drover declares an interface where it
// is used. The consumer then says what it needs and no more.
// An executor satisfies the interface without importing the worker.
// This package holds only what both sides must name.
package executor

import (
	"time"

	"github.com/drover-dev/drover"
)

// Task is one attempt to run.
type Task struct {
	AttemptID string
	JobID     string
	Spec      drover.JobSpec
	// Workspace is an empty host directory for this attempt alone, with
	// the bundle unpacked in it. It is the working directory of a process,
	// or is mounted at /workspace in a container. The worker creates and
	// removes it. It renames it for a later attempt when this one left it
	// as made.
	Workspace string
	// WorkspaceLimit is the most bytes one file written by the command may
	// hold, anywhere. Zero means none. It is a process's RLIMIT_FSIZE and a
	// container's fsize ulimit. A write past it fails, and the process gets
	// SIGXFSZ, which kills it unless handled. The worker bounds the
	// workspace as a whole by measuring it.
	WorkspaceLimit int64
	// Grace is the wait between SIGTERM and SIGKILL when the run's context
	// is cancelled (cancel or timeout). Zero kills at once.
	Grace time.Duration
	// Hurry, once closed, ends a grace period at once and kills the
	// command. It closes when the worker is told a second time to stop.
	// May be nil.
	Hurry <-chan struct{}
	// User, when not nil, is who a process job's command runs as. The
	// command gets its uid and gid and no supplementary groups. The
	// workspace belongs to it by then. Nil runs the command as the worker's
	// own user.
	User *User
	// OnStart is called once, as soon as the command is running. imagePull
	// is the time spent making the image available, zero for processes.
	// The worker starts the job's timeout from here. May be nil.
	OnStart func(imagePull time.Duration)
}

// User is a user a process job runs as. Such ids often have no passwd
// entry, so Name is what the job's USER and LOGNAME say.
//
// Exclusive says no other process holds these ids while the job runs. A
// root worker's ids from its range are exclusive. The executor may then
// take them for a moment, as the process executor's limitStarted does.
type User struct {
	UID, GID  uint32
	Name      string
	Exclusive bool
}

// Sink receives output as it is produced. Write must not retain p after it
// returns. Executors may call it from two goroutines (stdout and stderr).
type Sink interface {
	Write(stream drover.Stream, p []byte)
}

// Result is how a run ended.
//
// Executors report what happened to the command:
//
//   - ExitCode when it exited, 128+signal when a signal killed it
//   - ReasonOOMKilled when the memory limit killed it
//   - ReasonExecutorError when the machine could not run it, with a
//     Message a user understands
//
// A command that is missing or not executable ends as a shell ends it.
// Its ExitCode is 127 or 126, with the reason in Message and on stderr.
// That is the job's failure, not the machine's.
//
// When the context ends, an executor stops the whole process tree. It
// sends SIGTERM, waits Grace, then sends SIGKILL, and returns once the
// tree is gone. The worker reports cancelled or timeout from the
// context's cause.
type Result struct {
	ExitCode  *int
	Reason    drover.Reason // "", ReasonOOMKilled or ReasonExecutorError
	Message   string
	Usage     drover.Usage
	ImagePull time.Duration
}

// Exit returns a Result with the given exit code.
func Exit(code int) Result { return Result{ExitCode: &code} }

// Failed returns an executor_error Result with a message for the user.
func Failed(msg string) Result {
	return Result{Reason: drover.ReasonExecutorError, Message: msg}
}

// Env builds a command's environment in three layers:
//
//   - a minimal base: PATH, HOME set to the workspace, LANG, TMPDIR when
//     given, and USER and LOGNAME when the task names its user
//   - the job's own env, which may replace the base
//   - drover's variables: DROVER_JOB_ID, DROVER_ATTEMPT_ID and
//     DROVER_WORKSPACE
//
// The job's env cannot replace drover's variables. drover.JobSpec.Normalize
// refuses a DROVER_* name, and they come last besides. The worker's own
// environment is never passed through.
func Env(t *Task, workspace, tmp string) []string {
	env := []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + workspace,
		"LANG=C.UTF-8",
	}
	if tmp != "" {
		env = append(env, "TMPDIR="+tmp)
	}
	if t.User != nil {
		env = append(env, "USER="+t.User.Name, "LOGNAME="+t.User.Name)
	}
	for k, v := range t.Spec.Env {
		env = append(env, k+"="+v)
	}
	return append(env,
		"DROVER_JOB_ID="+t.JobID,
		"DROVER_ATTEMPT_ID="+t.AttemptID,
		"DROVER_WORKSPACE="+workspace,
	)
}
