package docker

import (
	"context"
	"fmt"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/executor"
	"github.com/moby/moby/client"
)

const (
	// engineCallTimeout bounds each call made after the run's context is
	// done: kill, inspect and remove. A hung engine then cannot hold Run
	// forever.
	engineCallTimeout = 30 * time.Second
	// startTimeout bounds a container's create and its start. A busy
	// engine can make either slow.
	startTimeout = 2 * time.Minute
)

// ContainerName is the name of the container of an attempt.
func ContainerName(attemptID string) string { return "drover-" + attemptID }

// Run runs t in a new container, streams its output into out and returns
// how it ended (see executor.Result). The container is removed before Run
// returns, whatever happened.
func (e *Executor) Run(ctx context.Context, t *executor.Task, out executor.Sink) executor.Result {
	began := time.Now()
	if err := e.ensureImage(ctx, t.Spec.Image); err != nil {
		res := executor.Failed(err.Error())
		res.ImagePull = time.Since(began)
		return res
	}
	pull := time.Since(began)
	res := e.run(ctx, t, out, pull)
	res.ImagePull = pull
	return res
}

// run runs t once its image is on the engine. pull is the time that took,
// which t.OnStart receives.
func (e *Executor) run(ctx context.Context, t *executor.Task, out executor.Sink, pull time.Duration) executor.Result {
	if t.Workspace != "" {
		if err := e.prepareWorkspace(t.Workspace); err != nil {
			return executor.Failed(fmt.Sprintf("cannot open the workspace to the container user %s: %v", e.cfg.User, err))
		}
	}
	// Stopping, waiting for and removing the container go on after ctx is
	// done. They use bg, which is not cancelled with it.
	bg := context.WithoutCancel(ctx)
	name := ContainerName(t.AttemptID)
	// The container is removed by name. A create interrupted by a
	// cancellation may have made a container whose id never reached us.
	defer e.remove(bg, name)

	id, failed := e.createContainer(ctx, t, name, out)
	if failed != nil {
		return *failed
	}
	output, err := e.attach(ctx, id, out)
	if err != nil {
		return e.failedBefore(ctx, "attach to the container", err)
	}
	defer output.close()
	exit := e.watchExit(bg, id)
	defer exit.stop()
	if failed := e.startContainer(ctx, id, out); failed != nil {
		return *failed
	}
	if t.OnStart != nil {
		t.OnStart(pull)
	}

	usage := e.sampleUsage(bg, id)
	stopped := e.awaitExit(ctx, bg, id, t, exit)
	used := usage.stop()
	if !exit.exited() {
		// SIGKILL did not end it within engineCallTimeout. The removal
		// forces it, but there is no exit status to report.
		res := executor.Failed("the container did not stop after SIGKILL; it was removed by force")
		res.Usage = used
		return res
	}
	output.drain(e, name)
	code, oom, err := e.exitOf(bg, id, exit, stopped)
	if err != nil {
		res := executor.Failed(err.Error())
		res.Usage = used
		return res
	}
	res := exitResult(&t.Spec, code, stopped, oom, output.stderr.String())
	res.Usage = used
	return res
}

// createContainer creates the attempt's container and returns its id. It
// returns a result instead when the run ends there.
//
// The create does not take ctx. The engine would go on creating a
// container whose request was abandoned, after the deferred removal had
// found nothing to remove. Creating takes moments, and a cancellation is
// seen just after it. The create is bounded as a start is, for an engine
// slow to create.
func (e *Executor) createContainer(ctx context.Context, t *executor.Task, name string, out executor.Sink) (string, *executor.Result) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), startTimeout)
	id, err := e.create(cctx, t, name)
	cancel()
	if err != nil {
		if len(t.Spec.Command) == 0 && strings.Contains(err.Error(), "No command specified") {
			// The job is at fault, not the fleet. It fails as a missing
			// command does, with 127.
			res := cannotRun(out, 127, fmt.Sprintf("the image %s has no command of its own: give the job one", t.Spec.Image))
			return "", &res
		}
		res := e.failedBefore(ctx, "create the container", err)
		return "", &res
	}
	if ctx.Err() != nil {
		res := e.failedBefore(ctx, "create the container", ctx.Err())
		return "", &res
	}
	return id, nil
}

// create creates the attempt's container. It replaces a leftover of the
// same name, which a run of this attempt interrupted before its removal
// left.
func (e *Executor) create(ctx context.Context, t *executor.Task, name string) (string, error) {
	opts, err := e.containerOptions(t, name)
	if err != nil {
		return "", err
	}
	for try := 0; ; try++ {
		created, err := e.cli.ContainerCreate(ctx, opts)
		if err == nil {
			for _, w := range created.Warnings {
				e.log.Warn("docker engine warning", "container", name, "warning", w)
			}
			return created.ID, nil
		}
		if try > 0 || !cerrdefs.IsConflict(err) {
			return "", err
		}
		e.log.Warn("removing a leftover container of the same attempt", "container", name)
		e.remove(ctx, name)
	}
}

// startContainer starts the container. It returns a result when the run
// ends there.
//
// The start does not take ctx. A cancellation arriving while the engine
// starts the container would abandon a running command. awaitExit stops
// it instead.
func (e *Executor) startContainer(ctx context.Context, id string, out executor.Sink) *executor.Result {
	if ctx.Err() != nil {
		res := e.failedBefore(ctx, "start the container", ctx.Err())
		return &res
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), startTimeout)
	_, err := e.cli.ContainerStart(sctx, id, client.ContainerStartOptions{})
	cancel()
	if err == nil {
		return nil
	}
	if code, msg, ok := commandCannotRun(err); ok {
		res := cannotRun(out, code, msg)
		return &res
	}
	res := e.failedBefore(ctx, "start the container", err)
	return &res
}

// cannotRun is the result of a command the image cannot run: exit code
// 126 or 127, as a shell reports it. The message goes to the job's stderr
// too, where its user looks first.
func cannotRun(out executor.Sink, code int, msg string) executor.Result {
	out.Write(drover.Stderr, []byte("drover: "+msg+"\n"))
	res := executor.Exit(code)
	res.Message = msg
	return res
}

// commandCannotRun reads a failed start of the container. It reports ok
// when the engine could not execute the command, as runc without
// docker-init fails. A missing command is 127 and one not executable is
// 126. The job ends with that code, as docker run and a shell end it, and
// as docker-init makes it end on an engine that has one. The image lacks
// the program, and another worker would not cure it. Any other failure is
// the machine's.
func commandCannotRun(err error) (code int, msg string, ok bool) {
	s := err.Error()
	i := strings.Index(s, `exec: "`)
	if i < 0 {
		return 0, "", false
	}
	what := strings.TrimSuffix(strings.TrimSpace(s[i:]), ": unknown")
	switch {
	case strings.Contains(what, "executable file not found"), strings.Contains(what, "no such file or directory"):
		code = 127
	case strings.Contains(what, "permission denied"), strings.Contains(what, "is a directory"):
		code = 126
	default:
		return 0, "", false
	}
	return code, "cannot run the command: " + what, true
}

// failedBefore reports a run that ended before its command started.
func (e *Executor) failedBefore(ctx context.Context, what string, err error) executor.Result {
	if ctx.Err() != nil {
		// The worker reports cancelled or timeout from ctx's cause.
		return executor.Failed(fmt.Sprintf("stopped before the container started (%v)", context.Cause(ctx)))
	}
	return executor.Failed(fmt.Sprintf("%s: %v", what, err))
}
