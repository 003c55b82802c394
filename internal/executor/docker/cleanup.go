package docker

import (
	"context"
	"errors"
	"fmt"

	"github.com/moby/moby/client"
)

// Cleanup force-removes every drover container whose attempt keep rejects,
// running or not. It returns how many it removed. A drover container
// carries the label drover.attempt. A nil keep keeps nothing.
//
// A restarted worker calls it with the attempts it still owns. It then
// clears the containers an earlier life left, after a kill -9 say.
//
// With a WorkerID, the Executor looks only at that worker's containers.
// Without one it looks at every drover container on the engine. That is
// right only when one worker uses the engine.
//
// Errors of single removals are joined, and the other removals are still
// tried.
func (e *Executor) Cleanup(ctx context.Context, keep func(attemptID string) bool) (removed int, err error) {
	filters := client.Filters{}.Add("label", LabelAttempt)
	if e.cfg.WorkerID != "" {
		filters = filters.Add("label", LabelWorker+"="+e.cfg.WorkerID)
	}
	list, err := e.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filters})
	if err != nil {
		return 0, fmt.Errorf("list drover containers: %w", err)
	}
	var errs []error
	for _, c := range list.Items {
		attempt := c.Labels[LabelAttempt]
		if keep != nil && keep(attempt) {
			continue
		}
		_, err := e.cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil {
			errs = append(errs, fmt.Errorf("remove container %.12s of attempt %s: %w", c.ID, attempt, err))
			continue
		}
		removed++
		e.log.Info("removed a container of an attempt this worker no longer runs", "container", c.ID, "attempt", attempt)
	}
	return removed, errors.Join(errs...)
}
