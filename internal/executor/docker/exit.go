package docker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/executor"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// exitWatch waits for a container's next exit.
type exitWatch struct {
	done   chan struct{} // closed once status or err is set
	status container.WaitResponse
	err    error
	cancel context.CancelFunc
}

// watchExit begins waiting for the container's next exit. It must begin
// before the start, or a quick command could exit before the wait and be
// missed. stop ends the wait.
func (e *Executor) watchExit(ctx context.Context, id string) *exitWatch {
	ctx, cancel := context.WithCancel(ctx)
	wait := e.cli.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	w := &exitWatch{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(w.done)
		select {
		case w.status = <-wait.Result:
		case w.err = <-wait.Error:
		}
	}()
	return w
}

// exited reports whether the container has exited.
func (w *exitWatch) exited() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// succeeded reports whether the wait saw the command exit with code 0.
// Call it once exited reports true.
func (w *exitWatch) succeeded() bool {
	return w.err == nil && w.status.Error == nil && w.status.StatusCode == 0
}

// stop ends the wait and waits for its goroutine.
func (w *exitWatch) stop() {
	w.cancel()
	<-w.done
}

// awaitExit waits until the container exits. When ctx is done first, it
// stops the container (see stop) and reports stopped.
func (e *Executor) awaitExit(ctx, bg context.Context, id string, t *executor.Task, w *exitWatch) (stopped bool) {
	select {
	case <-w.done:
		return false
	case <-ctx.Done():
		e.stop(bg, id, t.Grace, t.Hurry, w.done)
		return true
	}
}

// exitOf reads how an exited container ended: its command's exit code, and
// whether the engine flagged a process of it killed for memory. The error
// says the engine lost track of the container.
//
// A success needs no inspection, which saves an engine call on every quick
// job. Only a failed run is blamed on the memory limit (see exitResult).
func (e *Executor) exitOf(ctx context.Context, id string, w *exitWatch, stopped bool) (code int, oom bool, err error) {
	if w.succeeded() {
		return 0, false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, engineCallTimeout)
	defer cancel()
	inspected, err := e.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	var state *container.State
	if err == nil && inspected.Container.State != nil {
		state = inspected.Container.State
	}
	switch {
	case w.err == nil && w.status.Error == nil:
		code = int(w.status.StatusCode)
	case state != nil && !state.Running:
		code = state.ExitCode
	default:
		return 0, false, fmt.Errorf("lost track of the container: %v", errors.Join(w.err, waitExitErr(w.status), err))
	}
	// The engine can learn of an OOM kill after it reports the exit. A
	// SIGKILL nobody here sent is so looked at again for a moment before
	// it is called a plain kill.
	if !stopped && state != nil && !state.OOMKilled && code == 137 {
		state = e.awaitOOM(ctx, id, state)
	}
	return code, state != nil && state.OOMKilled, nil
}

func waitExitErr(w container.WaitResponse) error {
	if w.Error != nil && w.Error.Message != "" {
		return errors.New(w.Error.Message)
	}
	return nil
}

// exitResult is the result of a command that exited with code. stopped
// says drover stopped it, on a cancel or a timeout. oom says the engine
// flagged a process of the container killed for memory. stderrTail is the
// end of the command's stderr.
//
// A command drover stopped keeps its bare exit code. So does one that
// succeeded.
//
// A 126 or 127 that docker-init reported is explained in the message. A
// command given as one string needs sh in the image, and the message says
// so when sh was missing.
//
// The engine flags a container when any process of it was killed for
// memory. Only a command itself killed by SIGKILL is blamed on the limit,
// as oom_killed. A command that outlived the kill of a child keeps
// its own exit code, as docker run does. Its message then says what
// happened.
func exitResult(spec *drover.JobSpec, code int, stopped, oom bool, stderrTail string) executor.Result {
	res := executor.Exit(code)
	if stopped {
		return res
	}
	if code == 126 || code == 127 {
		if why := initExecFailure(stderrTail); why != "" {
			res.Message = "cannot run the command: " + why
			if cmd := spec.Command; len(cmd) == 3 && cmd[0] == "sh" && cmd[1] == "-c" && strings.HasPrefix(why, "exec sh failed") {
				res.Message += " (the image has no sh to run a command given as one string: give it as a list of arguments, or use an image with a shell)"
			}
		}
	}
	if oom {
		switch {
		case code == 137:
			res.Reason = drover.ReasonOOMKilled
			res.Message = fmt.Sprintf("killed for exceeding its memory limit of %d MiB", spec.Resources.MemoryMB)
		case code != 0:
			res.Message = fmt.Sprintf("exited with code %d after a process of it was killed for exceeding the memory limit of %d MiB", code, spec.Resources.MemoryMB)
		}
	}
	return res
}

// initExecFailure is why docker-init could not start the command, taken
// from the last line it wrote. Such a line reads "[FATAL tini (7)] exec
// nosuchcmd failed: No such file or directory". It is "" when docker-init
// wrote none, and the 126 or 127 is then the command's own.
func initExecFailure(stderr string) string {
	i := strings.LastIndex(stderr, "[FATAL tini (")
	if i < 0 {
		return ""
	}
	line, _, _ := strings.Cut(stderr[i:], "\n")
	_, why, ok := strings.Cut(line, "] ")
	if !ok || !strings.HasPrefix(why, "exec ") {
		return ""
	}
	return strings.TrimSpace(why)
}

// oomSettle bounds how long a SIGKILLed container's OOM flag is awaited.
// The wait is generous because the engine's OOM event can come late on a
// busy machine. It only delays the report of a container that something
// outside drover killed without an OOM, which is rare.
const oomSettle = 3 * time.Second

// awaitOOM inspects the container again until the engine marks it
// OOMKilled, or has logged an OOM event for it, or oomSettle passes. It
// returns the last state seen, with OOMKilled set when only the event says
// so.
//
// The event is looked for because an engine may process the exit before
// the OOM event. It then takes the flag from the exit alone and never sets
// it, while the event stays in its log.
func (e *Executor) awaitOOM(ctx context.Context, id string, state *container.State) *container.State {
	since := time.Now().Add(-time.Hour)
	if t, err := time.Parse(time.RFC3339Nano, state.StartedAt); err == nil {
		since = t.Add(-time.Second)
	}
	deadline := time.Now().Add(oomSettle)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return state
		case <-time.After(50 * time.Millisecond):
		}
		inspected, err := e.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		if err != nil || inspected.Container.State == nil {
			return state
		}
		if state = inspected.Container.State; state.OOMKilled {
			return state
		}
		if e.oomEvent(ctx, id, since) {
			s := *state
			s.OOMKilled = true
			return &s
		}
	}
	return state
}

// oomEvent reports whether the engine has logged an OOM event for the
// container since the given time.
func (e *Executor) oomEvent(ctx context.Context, id string, since time.Time) bool {
	ectx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	stamp := func(t time.Time) string { return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond()) }
	res := e.cli.Events(ectx, client.EventsListOptions{
		Since:   stamp(since),
		Until:   stamp(time.Now()),
		Filters: client.Filters{}.Add("type", "container").Add("container", id).Add("event", "oom"),
	})
	for {
		select {
		case m, ok := <-res.Messages:
			if !ok {
				return false
			}
			if m.Action == "oom" {
				return true
			}
		case <-res.Err:
			return false // the log up to now was read (nil), or could not be
		case <-ectx.Done():
			return false
		}
	}
}
