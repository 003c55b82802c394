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
// process group has been killed. Pipes normally close at once; only a
// process that left the group (setsid, setpgid) can hold them open.
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

// Run runs t.Spec.Command in t.Workspace with the environment of
// executor.Env (never the worker's own) and stdin from /dev/null, streaming
// stdout and stderr into out as they arrive. It returns once the command
// and its process group are gone and the output is drained.
//
// When ctx is done it sends SIGTERM to the process group and SIGKILL after
// t.Grace (at once when Grace is zero). Whatever is left of the group when
// the command itself exits is killed (after a cancel, once the rest of the
// grace has passed), so background children do not outlive the job. A
// command that is missing or cannot be executed ends with exit code 127 or
// 126 and says why on stderr and in the result's Message, as a shell
// would; one that cannot be started for another reason (the workspace is
// gone, the machine has no process left) returns executor.Failed. Either
// way t.OnStart is not called.
//
// A positive t.WorkspaceLimit is the process's file size limit (see
// limitFileSize).
//
// t.OnStart runs on Run's goroutine once the process has started, and ctx
// is watched from when it returns; output flows meanwhile. Run also waits
// for out.Write: a sink that blocks holds the reading, and so the command
// once its pipes are full.
func (e *Executor) Run(ctx context.Context, t *executor.Task, out executor.Sink) executor.Result {
	argv := t.Spec.Command
	if len(argv) == 0 || argv[0] == "" {
		return executor.Failed("the job has no command")
	}
	if t.Workspace == "" {
		return executor.Failed("the attempt has no workspace directory")
	}
	env := executor.Env(t, t.Workspace, "")
	// A name with a slash is executed as it is: the checks that explain a
	// failure (workspace, file, permissions) run only if it fails, which
	// saves three system calls on every start. A bare name is searched in
	// PATH first, as a shell would, in a workspace that must exist.
	path := argv[0]
	if !strings.Contains(path, "/") {
		if err := checkWorkspace(t.Workspace); err != nil {
			return executor.Failed(err.Error())
		}
		var err error
		if path, err = resolve(argv[0], t.Workspace, envPath(env)); err != nil {
			return cannotStart(out, err)
		}
	}
	p, err := start(path, argv, t.Workspace, env, t.User, t.WorkspaceLimit)
	if err != nil {
		return cannotStart(out, notStarted(argv[0], path, t.Workspace, env, t.User, err))
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

	p.await(ctx, t.Grace, t.Hurry)
	// The leader has exited but is not reaped, so the group id cannot have
	// been reused: kill what it left behind, so background children die
	// and let go of the output pipes.
	p.signal(syscall.SIGKILL)
	waitErr := p.cmd.Wait()
	// Stopped on purpose (cancel, timeout): processes that left the group
	// go too. After a command that ended on its own they are looked for
	// only if they hold its output (below), or at the worker's next start:
	// a sweep of /proc costs more than a short job.
	if ctx.Err() != nil {
		e.killEscaped(t.AttemptID)
	}

	bound := time.NewTimer(e.drainBound)
	select {
	case <-drained:
		bound.Stop()
	case <-bound.C:
		// Some process outside the group (it called setsid or setpgid)
		// still holds a pipe: kill this attempt's processes that are left
		// (found by their environment), and if that does not free the
		// output, stop reading: whatever it writes from now on is lost.
		freed := false
		if e.killEscaped(t.AttemptID) > 0 {
			bound.Reset(e.drainBound)
			select {
			case <-drained:
				freed = true
			case <-bound.C:
			}
		}
		if !freed {
			log.Warn("output still open after the job's process group was killed; a process that left the group holds it; dropping further output",
				"waited", e.drainBound)
			p.closeOutput()
			<-drained
		}
	}
	p.closeOutput()

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

// notStarted explains why the command at path (argv0 as given) did not
// start: a missing workspace or one the job's user cannot enter, a file
// that is missing, a directory or not executable, or, the file being fine,
// its contents or its interpreter.
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

// cannotStart is the result of a command that did not start. One that
// cannot be run for a reason of its own (see cannotRun) ends as a shell
// ends it: the reason on stderr and exit code 127 or 126, a failure of the
// job, which another worker would not cure. Any other error is the
// machine's: executor_error, and the job goes to another worker.
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
