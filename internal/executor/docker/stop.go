package docker

import (
	"context"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// stop ends a running container as DESIGN.md §4 asks. It sends SIGTERM to
// the container's init, which forwards it to the command's process group.
// It sends SIGKILL once grace has passed, or at once when hurry is closed.
// It then waits until exited is closed, for at most engineCallTimeout.
//
// Everything else in the container dies with its init. The kernel ends a
// PID namespace with its first process.
func (e *Executor) stop(ctx context.Context, id string, grace time.Duration, hurry <-chan struct{}, exited <-chan struct{}) {
	select {
	case <-hurry:
		grace = 0
	default:
	}
	if grace > 0 {
		e.kill(ctx, id, "TERM")
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case <-exited:
			return
		case <-timer.C:
		case <-hurry:
		}
	}
	e.kill(ctx, id, "KILL")
	timer := time.NewTimer(engineCallTimeout)
	defer timer.Stop()
	select {
	case <-exited:
	case <-timer.C:
		e.log.Error("container still running after SIGKILL", "container", id)
	}
}

// kill sends signal to the container's init.
func (e *Executor) kill(ctx context.Context, id, signal string) {
	ctx, cancel := context.WithTimeout(ctx, engineCallTimeout)
	defer cancel()
	if _, err := e.cli.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: signal}); err != nil {
		// Most often it has just exited on its own.
		e.log.Debug("signal container", "container", id, "signal", signal, "err", err)
	}
}

// remove force-removes a container with its anonymous volumes. It returns
// once the engine has removed it. A container already gone is fine.
func (e *Executor) remove(ctx context.Context, idOrName string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), engineCallTimeout)
	defer cancel()
	_, err := e.cli.ContainerRemove(ctx, idOrName, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		e.log.Error("remove container", "container", idOrName, "err", err)
	}
}
