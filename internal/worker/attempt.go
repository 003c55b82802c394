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
			// Taken between our drain and the coordinator hearing of it:
			// hand it back at once, not acknowledged, which the
			// coordinator requeues without using a fleet retry.
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

// runAttempt runs one attempt end to end: workspace, executor, timeout,
// output, finish. ctx is the worker's life; runCtx is cancelled with a
// cause (stopped, timeout, stale, shutdown).
func (w *Worker) runAttempt(ctx, runCtx context.Context, cancel context.CancelCauseFunc, a drover.Assignment, ackBy time.Time) {
	log := lazylog.With(w.log, "attempt", a.AttemptID, "job", a.JobID)
	name := a.Spec.Executor
	if name == "" {
		// A job without an image names no executor: it runs on the first
		// executor that needs no image (process, or noop under bench).
		for _, e := range w.cfg.Executors {
			if e.Name() != drover.ExecutorDocker {
				name = e.Name()
				break
			}
		}
	}
	// The sender outlives a hard stop of the worker by a bound, so the
	// coordinator hears how the attempt ended.
	sctx, scancel := context.WithCancel(context.WithoutCancel(ctx))
	defer scancel()
	var staleOnce sync.Once
	s := newSender(w.attemptAPI(), a.AttemptID, w.cfg.OutputBuffer, log, func() {
		staleOnce.Do(func() { cancel(errStale) })
	})
	senderDone := make(chan struct{})
	go func() { defer close(senderDone); s.run(sctx) }()
	finish := func(req drover.FinishRequest) {
		fctx, fcancel := context.WithTimeout(sctx, finishBound(ctx))
		defer fcancel()
		s.Finish(fctx, req)
		scancel()
		<-senderDone
	}

	ex, ok := w.execs[name]
	if !ok {
		finish(drover.FinishRequest{Reason: drover.ReasonExecutorError, Message: fmt.Sprintf("worker %s has no %s executor", w.cfg.Name, name)})
		return
	}
	// A process job runs as a user of its own (RunAs), held until its
	// workspace is taken back or removed (the deferred release runs after
	// the workspace's).
	var user *executor.User
	if name == drover.ExecutorProcess && w.users != nil {
		u, release, err := w.users.get()
		if err != nil {
			finish(drover.FinishRequest{Reason: drover.ReasonExecutorError, Message: "no user to run the job as: " + err.Error()})
			return
		}
		defer release()
		user = u
	}
	// The noop executor runs nothing, so it needs no workspace unless there
	// is a bundle to unpack: creating a folder can cost more than the rest
	// of an attempt (half a millisecond of system time on some file systems).
	var ws string
	if name != drover.ExecutorNoop || a.Spec.Bundle != "" {
		var err error
		if ws, err = w.ws.get(a.AttemptID); err != nil {
			finish(drover.FinishRequest{Reason: drover.ReasonExecutorError, Message: "create workspace: " + err.Error()})
			return
		}
		defer func() {
			if ws == "" {
				return // kept before the finish
			}
			if err := w.ws.put(ws); err != nil {
				log.Warn("remove the workspace", "dir", ws, "err", err)
			}
		}()
	}

	// A bundle fetch or an image pull can take long: acknowledge first, so
	// the assignment is not taken back as unacknowledged meanwhile. So does
	// an assignment come to late (see ackBy): the coordinator may have
	// taken it back already, and says so.
	late := !ackBy.IsZero() && time.Now().After(ackBy)
	if a.Spec.Bundle != "" || name == drover.ExecutorDocker || late {
		if err := w.accept(runCtx, a.AttemptID); err != nil {
			// Retried, the accept may itself have run past the window.
			late = late || !ackBy.IsZero() && time.Now().After(ackBy)
			if drover.IsCode(err, drover.ECONFLICT) || drover.IsCode(err, drover.ENOTFOUND) || late {
				// Withdrawn; or, late, not confirmed ours: running it
				// could run it twice, and left alone the coordinator
				// takes it back.
				log.Info("assignment withdrawn before it started, or not confirmed after coming late", "err", err)
				scancel()
				<-senderDone
				return
			}
			log.Warn("accept failed; going on (start acknowledges too)", "err", err)
		}
	}
	var fetch time.Duration
	if a.Spec.Bundle != "" {
		t0 := time.Now()
		if err := w.unpackBundle(runCtx, a.Spec.Bundle, ws); err != nil {
			if context.Cause(runCtx) == errStale {
				scancel()
				<-senderDone
				return
			}
			reason := drover.ReasonExecutorError
			if context.Cause(runCtx) == errStopped {
				reason = drover.ReasonCancelled
			}
			finish(drover.FinishRequest{Reason: reason, Message: err.Error(), Phases: drover.Phases{BundleFetch: drover.Duration(time.Since(t0))}})
			return
		}
		fetch = time.Since(t0)
	}
	if user != nil {
		if err := w.ws.handOver(ws, user, a.Spec.Bundle != ""); err != nil {
			finish(drover.FinishRequest{Reason: drover.ReasonExecutorError, Message: "give the workspace to the job's user: " + err.Error(),
				Phases: drover.Phases{BundleFetch: drover.Duration(fetch)}})
			return
		}
	}

	hurry, watch, unwatch, err := w.watchWorkspace(ws, cancel, log)
	defer unwatch()
	if err != nil {
		finish(drover.FinishRequest{Reason: drover.ReasonExecutorError, Message: err.Error(), Phases: drover.Phases{BundleFetch: drover.Duration(fetch)}})
		return
	}

	var (
		startMu   sync.Mutex
		startedAt time.Time
		timer     *time.Timer
	)
	task := &executor.Task{
		AttemptID:      a.AttemptID,
		JobID:          a.JobID,
		Spec:           a.Spec,
		Workspace:      ws,
		WorkspaceLimit: w.cfg.WorkspaceLimit,
		User:           user,
		Grace:          w.cfg.Grace,
		Hurry:          hurry,
		OnStart: func(pull time.Duration) {
			startMu.Lock()
			defer startMu.Unlock()
			if !startedAt.IsZero() {
				return
			}
			startedAt = time.Now()
			if t := a.Spec.Timeout.D(); t > 0 {
				timer = time.AfterFunc(t, func() { cancel(errTimeout) })
			}
			s.Start(drover.StartRequest{BundleFetch: drover.Duration(fetch), ImagePull: drover.Duration(pull)})
		},
	}
	log.Debug("running", "executor", name)
	res := ex.Run(runCtx, task, s)
	if watch != nil {
		watch.close()
	}
	startMu.Lock()
	if timer != nil {
		timer.Stop()
	}
	var running time.Duration
	if !startedAt.IsZero() {
		running = time.Since(startedAt)
	}
	startMu.Unlock()

	req := drover.FinishRequest{ExitCode: res.ExitCode, Reason: res.Reason, Message: res.Message, Usage: res.Usage,
		Phases: drover.Phases{BundleFetch: drover.Duration(fetch), ImagePull: drover.Duration(res.ImagePull), Running: drover.Duration(running)}}
	var limit *limitError
	switch cause := context.Cause(runCtx); {
	case cause == errStale:
		log.Info("stopped an attempt that is no longer current")
		scancel()
		<-senderDone
		return
	case cause == errTimeout && res.Reason != drover.ReasonExecutorError:
		req.Reason, req.Message = drover.ReasonTimeout, fmt.Sprintf("timed out after %s", a.Spec.Timeout)
	case errors.As(cause, &limit) && res.Reason != drover.ReasonExecutorError:
		req.Reason, req.Message = drover.ReasonWorkspaceLimit, limit.msg
	case cause == errStopped:
		req.Reason, req.Message = drover.ReasonCancelled, "cancelled"
	case cause == errShutdown:
		// The worker went away under the job, as a lost one does; nothing
		// says the job cannot run here (executor_error would keep it off
		// this worker).
		req.Reason, req.Message = drover.ReasonWorkerLost, fmt.Sprintf("worker %s was stopped while running it", w.cfg.Name)
	}
	if req.ExitCode == nil && req.Reason == "" {
		req.Reason, req.Message = drover.ReasonExecutorError, "the executor reported neither an exit code nor a reason"
	}
	// An untouched workspace goes back to the pool before the finish, which
	// frees the slot: the next attempt in it finds the folder there instead
	// of making one. One to remove is removed after (that can take long).
	if ws != "" && w.ws.keepIfAsMade(ws) {
		ws = ""
	}
	finish(req)
	log.Debug("finished", "exit", res.ExitCode, "reason", req.Reason)
}

// watchWorkspace starts the watch of an attempt's workspace (see
// diskWatch) when the worker has a limit. It returns the channel the
// executor is to take as its hurry, the watch (nil without one), and a stop
// to call once the attempt is over. A job past its limit is killed at
// once: in a grace period it could write as much again.
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
// workspace, checking it again (paths, links, sizes) as the server did.
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
	// The coordinator checked it against its own limits; these only guard
	// against a corrupted cache or coordinator, so they are generous, and
	// take any ratio the coordinator's --bundle-max-ratio may allow
	// (deflate tops out near 1032:1), and any depth a coordinator of
	// another version may have let through.
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
