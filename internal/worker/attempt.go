package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/client"
	"github.com/drover-dev/drover/internal/bundle"
	"github.com/drover-dev/drover/internal/executor"
	"github.com/drover-dev/drover/internal/lazylog"
	"github.com/drover-dev/drover/internal/retry"
)

// launch starts an assignment unless it already runs (a long-poll answer
// may repeat after a broken connection).
func (w *Worker) launch(ctx context.Context, a drover.Assignment, ackBy time.Time) {
	runCtx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	w.mu.Lock()
	if _, dup := w.runs[a.AttemptID]; dup {
		w.mu.Unlock()
		cancel(nil)
		return
	}
	draining := w.draining
	w.runs[a.AttemptID] = &run{cancel: cancel}
	w.wg.Add(1)
	w.mu.Unlock()
	go func() {
		defer w.wg.Done()
		defer func() {
			cancel(nil)
			w.mu.Lock()
			delete(w.runs, a.AttemptID)
			w.mu.Unlock()
			select {
			case w.idle <- struct{}{}:
			default:
			}
		}()
		if draining {
			// The assignment came between our drain and the coordinator
			// hearing of it. It goes back at once as not acknowledged. The
			// coordinator requeues it without using a fleet retry.
			w.report(ctx, a, drover.FinishRequest{Reason: drover.ReasonNotAcknowledged, Message: "worker " + w.cfg.Name + " is draining: handed back before starting it"})
			return
		}
		w.runAttempt(ctx, runCtx, cancel, a, ackBy)
	}()
}

// report sends only a finish for an attempt that never ran.
func (w *Worker) report(ctx context.Context, a drover.Assignment, req drover.FinishRequest) {
	s := newSender(w.attemptAPI(), a.AttemptID, w.cfg.OutputBuffer, w.log, func() {})
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	go s.run(sctx)
	s.Finish(sctx, req)
}

// runAttempt runs one attempt to its end and reports how it ended. ctx is
// the worker's life. runCtx ends with a cause: stopped, timeout, stale or
// shutdown. cancel ends runCtx.
func (w *Worker) runAttempt(ctx, runCtx context.Context, cancel context.CancelCauseFunc, a drover.Assignment, ackBy time.Time) {
	r := w.newAttemptRun(ctx, cancel, a)
	defer r.release()
	r.end(ctx, r.steps(runCtx, ackBy))
}

// attemptRun is one attempt as it runs. It holds what the steps of
// runAttempt share.
type attemptRun struct {
	w      *Worker
	a      drover.Assignment
	log    *slog.Logger
	cancel context.CancelCauseFunc // ends the attempt's context with a cause

	s          *sender
	stopSender context.CancelFunc
	senderDone chan struct{}

	exec        Executor
	user        *executor.User // who a process job runs as; nil for the worker's user
	releaseUser func()
	ws          string        // the workspace; "" for none, or once it is back in the pool
	fetch       time.Duration // how long the bundle took to fetch and unpack
}

// ending is how an attempt ends. A quiet ending reports nothing, because
// the attempt is no longer this worker's.
type ending struct {
	quiet bool
	req   drover.FinishRequest
}

// newAttemptRun starts the attempt's sender. The sender outlives a hard
// stop of the worker by a bound, so the coordinator hears how the attempt
// ended. A report the coordinator refuses as stale stops the attempt.
func (w *Worker) newAttemptRun(ctx context.Context, cancel context.CancelCauseFunc, a drover.Assignment) *attemptRun {
	log := lazylog.With(w.log, "attempt", a.AttemptID, "job", a.JobID)
	r := &attemptRun{w: w, a: a, log: log, cancel: cancel, senderDone: make(chan struct{})}
	r.s = newSender(w.attemptAPI(), a.AttemptID, w.cfg.OutputBuffer, log, func() { cancel(errStale) })
	sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	r.stopSender = stop
	go func() { defer close(r.senderDone); r.s.run(sctx) }()
	return r
}

// steps takes the attempt through its steps in order, until one ends it.
func (r *attemptRun) steps(ctx context.Context, ackBy time.Time) ending {
	if e := r.prepare(); e != nil {
		return *e
	}
	if e := r.acknowledge(ctx, ackBy); e != nil {
		return *e
	}
	if e := r.unpack(ctx); e != nil {
		return *e
	}
	return r.execute(ctx)
}

// prepare finds the executor, a process job's user and the workspace. It
// returns nil when the attempt goes on.
func (r *attemptRun) prepare() *ending {
	name := executorName(r.a.Spec, r.w.cfg.Executors)
	ex, ok := r.w.execs[name]
	if !ok {
		return r.failed(fmt.Sprintf("worker %s has no %s executor", r.w.cfg.Name, name))
	}
	r.exec = ex
	if name == drover.ExecutorProcess && r.w.users != nil {
		u, release, err := r.w.users.get()
		if err != nil {
			return r.failed("no user to run the job as: " + err.Error())
		}
		r.user, r.releaseUser = u, release
	}
	if needsWorkspace(name, r.a.Spec) {
		ws, err := r.w.ws.get(r.a.AttemptID)
		if err != nil {
			return r.failed("create workspace: " + err.Error())
		}
		r.ws = ws
	}
	return nil
}

// executorName is the executor an attempt of spec runs on. A job that
// names none runs on the first executor that needs no image. That is
// process, or noop under drover bench.
func executorName(spec drover.JobSpec, executors []Executor) string {
	if spec.Executor != "" {
		return spec.Executor
	}
	for _, e := range executors {
		if e.Name() != drover.ExecutorDocker {
			return e.Name()
		}
	}
	return ""
}

// needsWorkspace reports whether an attempt on executor name needs a
// workspace. The noop executor runs nothing, so it needs one only to
// unpack a bundle. Making a folder can cost more than the rest of a noop
// attempt.
func needsWorkspace(name string, spec drover.JobSpec) bool {
	return name != drover.ExecutorNoop || spec.Bundle != ""
}

// acknowledge accepts the assignment before a step that may take long. It
// returns nil when the attempt goes on, and a quiet ending when the
// assignment is no longer this worker's.
func (r *attemptRun) acknowledge(ctx context.Context, ackBy time.Time) *ending {
	late := pastAckBy(ackBy, time.Now())
	if !acceptFirst(r.a.Spec, r.exec.Name(), late) {
		return nil
	}
	err := r.w.accept(ctx, r.a.AttemptID)
	if err == nil {
		return nil
	}
	// Retried, the accept may itself have run past the window.
	late = late || pastAckBy(ackBy, time.Now())
	if drover.IsCode(err, drover.ECONFLICT) || drover.IsCode(err, drover.ENOTFOUND) || late {
		// The assignment was withdrawn. Or it came late and is not
		// confirmed ours: running it could run it twice, and left alone
		// the coordinator takes it back.
		r.log.Info("assignment withdrawn before it started, or not confirmed after coming late", "err", err)
		return &ending{quiet: true}
	}
	r.log.Warn("accept failed; going on (start acknowledges too)", "err", err)
	return nil
}

// acceptFirst reports whether an attempt is accepted before its command
// starts. A bundle fetch or an image pull can take long. Meanwhile the
// coordinator would take back an assignment that is not acknowledged. A
// late assignment is accepted first too (see ackBy). The coordinator may
// have taken it back already, and it says so.
func acceptFirst(spec drover.JobSpec, executor string, late bool) bool {
	return spec.Bundle != "" || executor == drover.ExecutorDocker || late
}

// pastAckBy reports whether now is past an assignment's ackBy. A zero
// ackBy never passes.
func pastAckBy(ackBy, now time.Time) bool {
	return !ackBy.IsZero() && now.After(ackBy)
}

// unpack fetches the bundle into the workspace. Then it gives the
// workspace to a process job's user. It returns nil when the attempt goes
// on.
func (r *attemptRun) unpack(ctx context.Context) *ending {
	if r.a.Spec.Bundle != "" {
		t0 := time.Now()
		err := r.w.unpackBundle(ctx, r.a.Spec.Bundle, r.ws)
		r.fetch = time.Since(t0)
		if err != nil {
			return unpackFailed(err, context.Cause(ctx), r.fetch)
		}
	}
	if r.user != nil {
		if err := r.w.ws.handOver(r.ws, r.user, r.a.Spec.Bundle != ""); err != nil {
			return r.failed("give the workspace to the job's user: " + err.Error())
		}
	}
	return nil
}

// unpackFailed is how an attempt ends when its bundle could not be
// unpacked. cause is why the attempt's context ended, if it did.
func unpackFailed(err, cause error, fetch time.Duration) *ending {
	reason := drover.ReasonExecutorError
	switch cause {
	case errStale:
		return &ending{quiet: true}
	case errStopped:
		reason = drover.ReasonCancelled
	}
	return &ending{req: drover.FinishRequest{Reason: reason, Message: err.Error(), Phases: drover.Phases{BundleFetch: drover.Duration(fetch)}}}
}

// execute runs the command and returns how the attempt ended. The watch
// of the workspace runs as long as the command.
func (r *attemptRun) execute(ctx context.Context) ending {
	hurry, watch, unwatch, err := r.w.watchWorkspace(r.ws, r.cancel, r.log)
	defer unwatch()
	if err != nil {
		return *r.failed(err.Error())
	}
	var clock runClock
	r.log.Debug("running", "executor", r.exec.Name())
	res := r.exec.Run(ctx, r.task(hurry, &clock), r.s)
	if watch != nil {
		watch.close()
	}
	phases := drover.Phases{BundleFetch: drover.Duration(r.fetch), ImagePull: drover.Duration(res.ImagePull), Running: drover.Duration(clock.stop())}
	e := outcome(res, context.Cause(ctx), r.a.Spec.Timeout, r.w.cfg.Name, phases)
	if e.quiet {
		r.log.Info("stopped an attempt that is no longer current")
	}
	return e
}

// task is what the executor runs. Its OnStart reports the start and arms
// the job's timeout. The timeout counts the running phase only.
func (r *attemptRun) task(hurry <-chan struct{}, clock *runClock) *executor.Task {
	return &executor.Task{
		AttemptID:      r.a.AttemptID,
		JobID:          r.a.JobID,
		Spec:           r.a.Spec,
		Workspace:      r.ws,
		WorkspaceLimit: r.w.cfg.WorkspaceLimit,
		User:           r.user,
		Grace:          r.w.cfg.Grace,
		Hurry:          hurry,
		OnStart: func(pull time.Duration) {
			if clock.start(r.a.Spec.Timeout.D(), func() { r.cancel(errTimeout) }) {
				r.s.Start(drover.StartRequest{BundleFetch: drover.Duration(r.fetch), ImagePull: drover.Duration(pull)})
			}
		},
	}
}

// outcome is how an attempt ends, from the executor's result and the
// cause that ended the attempt's context, if any. The cause names what
// stopped the command, so it goes before the executor's reason. An
// executor error still stands against a timeout or a workspace limit.
func outcome(res executor.Result, cause error, timeout drover.Duration, worker string, phases drover.Phases) ending {
	req := drover.FinishRequest{ExitCode: res.ExitCode, Reason: res.Reason, Message: res.Message, Usage: res.Usage, Phases: phases}
	var limit *limitError
	switch {
	case cause == errStale:
		return ending{quiet: true}
	case cause == errTimeout && res.Reason != drover.ReasonExecutorError:
		req.Reason, req.Message = drover.ReasonTimeout, fmt.Sprintf("timed out after %s", timeout)
	case errors.As(cause, &limit) && res.Reason != drover.ReasonExecutorError:
		req.Reason, req.Message = drover.ReasonWorkspaceLimit, limit.msg
	case cause == errStopped:
		req.Reason, req.Message = drover.ReasonCancelled, "cancelled"
	case cause == errShutdown:
		// The worker went away under the job, as a lost one does. Nothing
		// says the job cannot run here: executor_error would keep it off
		// this worker.
		req.Reason, req.Message = drover.ReasonWorkerLost, fmt.Sprintf("worker %s was stopped while running it", worker)
	}
	if req.ExitCode == nil && req.Reason == "" {
		req.Reason, req.Message = drover.ReasonExecutorError, "the executor reported neither an exit code nor a reason"
	}
	return ending{req: req}
}

// failed ends the attempt with an executor_error that says msg.
func (r *attemptRun) failed(msg string) *ending {
	return &ending{req: drover.FinishRequest{Reason: drover.ReasonExecutorError, Message: msg,
		Phases: drover.Phases{BundleFetch: drover.Duration(r.fetch)}}}
}

// end reports how the attempt ended, unless it ended quietly, and stops
// its sender. An untouched workspace goes back to the pool first.
func (r *attemptRun) end(ctx context.Context, e ending) {
	r.keepWorkspace()
	if !e.quiet {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishBound(ctx))
		r.s.Finish(fctx, e.req)
		cancel()
		r.log.Debug("finished", "exit", e.req.ExitCode, "reason", e.req.Reason)
	}
	r.stopSender()
	<-r.senderDone
}

// keepWorkspace puts an untouched workspace back in the pool. It runs
// before the finish, which frees the slot. So the next attempt in the slot
// finds the folder there instead of making one. A workspace to remove is
// removed after the finish, since that can take long.
func (r *attemptRun) keepWorkspace() {
	if r.ws != "" && r.w.ws.keepIfAsMade(r.ws) {
		r.ws = ""
	}
}

// release gives back what prepare took: the workspace, then the user. A
// user is held until its workspace is taken back or removed.
func (r *attemptRun) release() {
	if r.ws != "" {
		if err := r.w.ws.put(r.ws); err != nil {
			r.log.Warn("remove the workspace", "dir", r.ws, "err", err)
		}
	}
	if r.releaseUser != nil {
		r.releaseUser()
	}
}

// runClock times the command's run, and arms the job's timeout when the
// command starts.
type runClock struct {
	mu        sync.Mutex
	startedAt time.Time
	timer     *time.Timer
}

// start marks the command started and arms the timeout, unless timeout is
// zero. It reports whether this call was the first. Later calls change
// nothing.
func (c *runClock) start(timeout time.Duration, expire func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.startedAt.IsZero() {
		return false
	}
	c.startedAt = time.Now()
	if timeout > 0 {
		c.timer = time.AfterFunc(timeout, expire)
	}
	return true
}

// stop disarms the timeout and returns how long the command ran. It
// returns zero for a command that never started.
func (c *runClock) stop() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.startedAt.IsZero() {
		return 0
	}
	return time.Since(c.startedAt)
}

// watchWorkspace starts a diskWatch of an attempt's workspace when the
// worker has a limit. It returns the channel the executor takes as its
// hurry, the watch or nil, and a stop to call once the attempt is over.
// A job past its limit is killed at once. In a grace period it could write
// as much again.
func (w *Worker) watchWorkspace(ws string, cancel context.CancelCauseFunc, log *slog.Logger) (<-chan struct{}, *diskWatch, func(), error) {
	if ws == "" || w.cfg.WorkspaceLimit <= 0 {
		return w.hurry, nil, func() {}, nil
	}
	hurry, ended, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var once sync.Once
	hurryNow := func() { once.Do(func() { close(hurry) }) }
	go func() {
		defer close(done)
		select {
		case <-w.hurry:
			hurryNow()
		case <-ended:
		}
	}()
	stop := func() { close(ended); <-done }
	watch, err := watchDisk(ws, w.cfg.WorkspaceLimit, w.cfg.WorkspaceCheck, func(cause error) { hurryNow(); cancel(cause) }, log)
	if errors.Is(err, errors.ErrUnsupported) {
		return hurry, nil, stop, nil
	}
	return hurry, watch, stop, err
}

// finishBound is how long an attempt's last reports may take: as long as
// needed while the worker runs, a short bound once it is being stopped.
func finishBound(ctx context.Context) time.Duration {
	if ctx.Err() != nil {
		return 5 * time.Second
	}
	return 24 * time.Hour
}

// unpackBundle fetches a bundle through the cache and extracts it into the
// workspace. It checks the bundle again as the coordinator did: its paths,
// links and sizes.
func (w *Worker) unpackBundle(ctx context.Context, sha, ws string) error {
	f, release, err := w.cache.open(ctx, w.coordinator(), sha)
	if err != nil {
		return fmt.Errorf("bundle %s could not be fetched: %w", sha, err)
	}
	defer release()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("bundle %s: %w", sha, err)
	}
	// The coordinator checked the bundle against its own limits. These
	// only guard against a corrupted cache or coordinator, so they are
	// generous. They take any ratio the coordinator's --bundle-max-ratio
	// allows, since deflate cannot pass about 1032:1. They take any depth
	// a coordinator of another version let through.
	lim := bundle.Limits{MaxCompressed: max(fi.Size(), bundle.DefaultMaxCompressed), MaxUnpacked: 64 << 30, MaxFiles: 1 << 20, MaxRatio: 1 << 20, MaxDepth: 1 << 12}
	if _, err := bundle.Extract(f, fi.Size(), ws, lim); err != nil {
		return fmt.Errorf("bundle %s could not be unpacked: %w", sha, err)
	}
	return nil
}

// acceptRetry tries an acknowledgement a few times. An acknowledgement
// lost now would have the assignment taken back in the middle of a long
// bundle fetch or image pull.
var acceptRetry = retry.Policy{Backoff: coordinatorBackoff, Tries: 5, Retryable: client.Temporary}

// accept acknowledges an assignment before its command starts.
func (w *Worker) accept(ctx context.Context, attemptID string) error {
	return retry.Do(ctx, acceptRetry, func(ctx context.Context) error {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return w.coordinator().Accept(actx, attemptID)
	})
}
