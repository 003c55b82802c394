//go:build linux

package process

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/executor"
	"github.com/drover-dev/drover/internal/lazylog"
)

// drainBound is how long Run keeps reading output after the command's
// process group has been killed. Pipes normally close at once. Only a
// process that left the group with setsid or setpgid can hold them open.
const drainBound = 2 * time.Second

// Executor runs tasks as local processes. It is safe for concurrent use;
// each Run is independent.
type Executor struct {
	log        *slog.Logger
	drainBound time.Duration
	workDir    string // see SetWorkDir
}

// New returns a process executor that logs to logger (nil discards).
func New(logger *slog.Logger) *Executor {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Executor{log: logger, drainBound: drainBound}
}

// Name returns "process".
func (e *Executor) Name() string { return drover.ExecutorProcess }

// Run runs t.Spec.Command in t.Workspace and streams its stdout and
// stderr into out as they arrive. The command gets the environment of
// executor.Env, never the worker's own, and stdin from /dev/null. Run
// returns once the command and its process group are gone and the output
// is drained.
//
// When ctx is done, Run sends SIGTERM to the process group. SIGKILL
// follows after t.Grace, or at once when Grace is zero. Whatever is left of
// the group when the command exits is killed, so background children do
// not outlive the job. After a cancel, that kill waits for the rest of
// the grace.
//
// A command that is missing or cannot be executed ends as a shell ends it.
// Its exit code is 127 or 126, and the reason goes to stderr and the
// result's Message. A command that cannot start for another reason
// returns executor.Failed. A workspace that is gone is such a reason, and
// so is a machine with no process left. In both cases t.OnStart is not
// called.
//
// A positive t.WorkspaceLimit is the process's file size limit. See
// limitFileSize.
//
// t.OnStart runs on Run's goroutine once the process has started. Output
// flows meanwhile, and ctx is watched from when OnStart returns. Run waits
// for out.Write. A sink that blocks therefore holds the reading, and then
// the command once its pipes are full.
func (e *Executor) Run(ctx context.Context, t *executor.Task, out executor.Sink) executor.Result {
	p, path, failed := startTask(t, out)
	if p == nil {
		return failed
	}
	log := lazylog.With(e.log, "attempt", t.AttemptID, "pid", p.pgid)
	log.Debug("process started", "path", path)
	if p.limitErr != nil {
		log.Warn("cannot set the job's file size limit", "err", p.limitErr)
	}
	drained := p.copyOutput(out)
	if t.OnStart != nil {
		t.OnStart(0)
	}
	waitErr := e.end(ctx, p, t)
	e.drain(p, drained, t.AttemptID, log)
	return exitResult(p, waitErr, log)
}

// startTask starts t's command with its output on pipes. It returns the
// started process and the path it ran. A command that did not start gives
// a nil process and its result.
//
// A name with a slash is executed as it is. The checks that explain a
// failure then run only if it fails, which saves system calls on every
// start. A bare name is searched in PATH first, as a shell would, and the
// workspace must exist.
func startTask(t *executor.Task, out executor.Sink) (*proc, string, executor.Result) {
	argv := t.Spec.Command
	if len(argv) == 0 || argv[0] == "" {
		return nil, "", executor.Failed("the job has no command")
	}
	if t.Workspace == "" {
		return nil, "", executor.Failed("the attempt has no workspace directory")
	}
	env := executor.Env(t, t.Workspace, "")
	path := argv[0]
	if !strings.Contains(path, "/") {
		if err := checkWorkspace(t.Workspace); err != nil {
			return nil, "", executor.Failed(err.Error())
		}
		var err error
		if path, err = resolve(argv[0], t.Workspace, envPath(env)); err != nil {
			return nil, "", cannotStart(out, err)
		}
	}
	p, err := start(path, argv, t.Workspace, env, t.User, t.WorkspaceLimit)
	if err != nil {
		return nil, "", cannotStart(out, notStarted(argv[0], path, t.Workspace, env, t.User, err))
	}
	return p, path, executor.Result{}
}

// end waits for the command to exit, or stops it when ctx ends. It then
// kills what is left of its group and reaps it. It returns cmd.Wait's
// error.
//
// The leader is not reaped when the group is killed, so the group id
// cannot have been reused. The kill makes background children die and let
// go of the output pipes.
//
// After a stop on purpose, such as a cancel or a timeout, the processes
// that left the group go too. After a command that ended on its own they
// are looked for only if they hold its output, or at the worker's next
// start. A sweep of /proc costs more than a short job.
func (e *Executor) end(ctx context.Context, p *proc, t *executor.Task) error {
	p.await(ctx, t.Grace, t.Hurry)
	p.signal(syscall.SIGKILL)
	waitErr := p.cmd.Wait()
	if ctx.Err() != nil {
		e.killEscaped(t.AttemptID)
	}
	return waitErr
}

// drain waits until the output is read to its end, drained being closed
// then. It waits drainBound at most.
//
// A pipe still open after that is held by a process outside the group,
// one that called setsid or setpgid. drain then kills the attempt's
// processes that are left, found by their environment. If that does not
// free the output, it stops reading. Whatever such a process writes from
// then on is lost.
func (e *Executor) drain(p *proc, drained <-chan struct{}, attemptID string, log *slog.Logger) {
	bound := time.NewTimer(e.drainBound)
	defer p.closeOutput()
	select {
	case <-drained:
		bound.Stop()
		return
	case <-bound.C:
	}
	if e.killEscaped(attemptID) > 0 {
		bound.Reset(e.drainBound)
		select {
		case <-drained:
			return
		case <-bound.C:
		}
	}
	log.Warn("output still open after the job's process group was killed; a process that left the group holds it; dropping further output",
		"waited", e.drainBound)
	p.closeOutput()
	<-drained
}

// exitResult is the result of a command that ran, from its process state.
// waitErr is what cmd.Wait returned.
func exitResult(p *proc, waitErr error, log *slog.Logger) executor.Result {
	st := p.cmd.ProcessState
	if st == nil {
		return executor.Failed("wait for the process: " + waitErr.Error())
	}
	res := executor.Exit(exitCode(st.Sys().(syscall.WaitStatus)))
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
		res.Usage = usage(ru)
	}
	log.Debug("process exited", "exitCode", *res.ExitCode)
	return res
}

// notStarted explains why the command at path did not start. argv0 is the
// name as given. The workspace may be missing, or the job's user may not
// enter it. The file may be missing, a directory or not executable. When
// the file is fine, its contents or its interpreter are at fault.
func notStarted(argv0, path, dir string, env []string, user *executor.User, err error) error {
	if werr := checkWorkspace(dir); werr != nil {
		return werr
	}
	if user != nil && errors.Is(err, syscall.EACCES) {
		// The child enters the workspace after it switched users, and a
		// refusal then looks like the program's.
		if rerr := executor.Reachable(dir, user); rerr != nil {
			return fmt.Errorf("the job's user cannot enter its workspace: %v (every folder above the worker's --work-dir must let others search it)", rerr)
		}
		if rerr := executor.Reachable(filepath.Dir(inDir(dir, path)), user); rerr != nil {
			return notRunnable("permission denied: %s cannot be reached by the job's user (uid %d): %v", argv0, user.UID, rerr)
		}
	}
	if strings.Contains(argv0, "/") {
		if _, rerr := resolve(argv0, dir, envPath(env)); rerr != nil {
			return rerr
		}
	}
	return startError(argv0, inDir(dir, path), err)
}

// cannotStart is the result of a command that did not start.
//
// A command that cannot run for a reason of its own ends as a shell ends
// it. See cannotRun. The reason goes to stderr, and the exit code is 127
// or 126. That is a failure of the job, which another worker would not
// cure.
//
// Any other error is the machine's. The result is executor_error, and the
// job goes to another worker.
func cannotStart(out executor.Sink, err error) executor.Result {
	var cr *cannotRun
	if !errors.As(err, &cr) {
		return executor.Failed(err.Error())
	}
	out.Write(drover.Stderr, []byte("drover: "+cr.msg+"\n"))
	res := executor.Exit(cr.code)
	res.Message = cr.msg
	return res
}

// exitCode is the shell's convention: the exit status, or 128+signal when a
// signal killed the process.
func exitCode(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// usage converts the leader's rusage. It covers the leader and the
// descendants it waited for; children orphaned and killed at the end are
// not counted. Maxrss is the largest single process, in KiB on Linux.
func usage(ru *syscall.Rusage) drover.Usage {
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return drover.Usage{
		PeakMemoryBytes: ru.Maxrss * 1024,
		CPUSeconds:      tv(ru.Utime) + tv(ru.Stime),
	}
}
