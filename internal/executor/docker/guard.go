package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// A guard removes a worker's containers once the worker process is gone.
//
// A container belongs to the Docker engine, not to the worker that started
// it. A worker killed with -9 leaves its containers running. The
// coordinator finds the worker lost and runs their jobs again elsewhere.
// The same job would then run twice at once until the worker came back to
// remove them with Cleanup. A guard closes that gap.
//
// The worker starts the guard as a separate process. The guard holds the
// read end of a pipe whose write end only the worker holds. However the
// worker ends, the kernel closes that end. The guard then removes every
// container labelled with that worker process's Config.Instance, and
// exits. After a clean stop there is none left to remove.

// Guard waits until lifeline reaches its end, as it does once the worker
// process is gone. It then force-removes every container labelled with
// instance, and returns how many it removed.
func Guard(ctx context.Context, log *slog.Logger, instance string, lifeline io.Reader) (int, error) {
	if instance == "" {
		return 0, errors.New("docker guard: no worker instance to guard")
	}
	_, _ = io.Copy(io.Discard, lifeline)
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return 0, fmt.Errorf("docker client: %w", err)
	}
	defer cli.Close()
	lctx, cancel := context.WithTimeout(ctx, engineCallTimeout)
	list, err := cli.ContainerList(lctx, client.ContainerListOptions{All: true, Filters: client.Filters{}.Add("label", LabelInstance+"="+instance)})
	cancel()
	if err != nil {
		return 0, fmt.Errorf("list the worker's containers: %w", err)
	}
	removed := 0
	var errs []error
	for _, c := range list.Items {
		// Each removal has its own time: one slow to die does not cost
		// the others theirs.
		rctx, cancel := context.WithTimeout(ctx, engineCallTimeout)
		_, err := cli.ContainerRemove(rctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		cancel()
		if cerrdefs.IsNotFound(err) {
			continue // removed meanwhile, by the worker started again, say
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("remove container %.12s: %w", c.ID, err))
			continue
		}
		removed++
		log.Warn("the worker is gone: removed its container", "container", c.ID, "attempt", c.Labels[LabelAttempt], "job", c.Labels[LabelJob])
	}
	return removed, errors.Join(errs...)
}
