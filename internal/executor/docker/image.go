package docker

import (
	"context"
	"errors"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// ensureImage makes ref available on the engine according to the pull
// policy. The error it returns is the message a user sees.
func (e *Executor) ensureImage(ctx context.Context, ref string) error {
	present, err := e.imagePresent(ctx, ref)
	if err != nil {
		return fmt.Errorf("image %s: cannot ask the docker engine for it: %v", ref, err)
	}
	switch {
	case present && e.cfg.Pull != PullAlways:
		return nil
	case !present && e.cfg.Pull == PullNever:
		return fmt.Errorf("image %s is not on %s and could not be pulled: the pull policy is %q", ref, e.where(), PullNever)
	}
	err = e.pull(ctx, ref)
	switch {
	case err == nil:
		return nil
	case present && ctx.Err() == nil:
		// PullAlways and the registry is out of reach: the copy at hand
		// is better than failing the job.
		e.log.Warn("image pull failed; using the image present on the engine", "image", ref, "err", err)
		return nil
	default:
		return fmt.Errorf("image %s is not on %s and could not be pulled: %v", ref, e.where(), err)
	}
}

func (e *Executor) imagePresent(ctx context.Context, ref string) (bool, error) {
	_, err := e.cli.ImageInspect(ctx, ref)
	if err == nil {
		return true, nil
	}
	if cerrdefs.IsNotFound(err) {
		return false, nil
	}
	return false, err
}

// pull pulls ref and waits for the end of the engine's progress stream, which
// is where a failed pull reports its error.
func (e *Executor) pull(ctx context.Context, ref string) error {
	e.log.Info("pulling image", "image", ref)
	resp, err := e.cli.ImagePull(ctx, ref, client.ImagePullOptions{})
	if err != nil {
		return err
	}
	defer resp.Close()
	if err := resp.Wait(ctx); err != nil {
		if ctx.Err() != nil {
			return errors.New("the pull was interrupted by the run's cancellation")
		}
		return err
	}
	return nil
}

// where names this worker in messages.
func (e *Executor) where() string {
	if e.cfg.WorkerID != "" {
		return "worker " + e.cfg.WorkerID
	}
	return "this worker"
}
