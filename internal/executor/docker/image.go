package docker

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// ensureImage makes ref available on the engine according to the pull
// policy. A pull goes only to a registry the worker allows (see
// registryPolicy). The error it returns is the message a user sees.
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
	if err := e.registries.check(ctx, ref); err != nil {
		if present {
			// PullAlways: a registry the worker may not contact is out
			// of reach, and the copy at hand serves as it would then.
			e.log.Warn("image pull refused; using the image present on the engine", "image", ref, "err", err)
			return nil
		}
		return fmt.Errorf("image %s is not on %s and %v", ref, e.where(), err)
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
		e.log.Warn("image pull failed", "image", ref, "err", err)
		return fmt.Errorf("image %s is not on %s and could not be pulled: %s", ref, e.where(), pullReason(err))
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
			return errInterrupted
		}
		return err
	}
	return nil
}

var errInterrupted = errors.New("the pull was interrupted by the run's cancellation")

// httpStatus finds the status of a registry's answer in the engine's
// error ("error parsing HTTP 404 response body: ...").
var httpStatus = regexp.MustCompile(`\bHTTP (\d{3})\b`)

// pullReason says in a few fixed words why a pull failed. The engine's
// error can carry the registry's answer: a page of whatever service
// answered at the registry's address, or the message of its JSON error.
// Only its kind reaches the job's message; the whole error goes to the
// worker's log.
func pullReason(err error) string {
	msg := err.Error()
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(msg, s) {
				return true
			}
		}
		return false
	}
	switch {
	case errors.Is(err, errInterrupted):
		return errInterrupted.Error()
	case has("no such host"):
		return "the registry's name does not resolve"
	case has("connection refused"):
		return "the registry refused the connection"
	case has("i/o timeout", "deadline exceeded", "Client.Timeout", "TLS handshake timeout"):
		return "the registry did not answer in time"
	case has("network is unreachable", "no route to host"):
		return "the registry is unreachable"
	case has("x509:", "tls:", "certificate"):
		return "the registry's TLS certificate is not trusted, or it does not speak TLS"
	case httpStatus.MatchString(msg):
		return "the registry answered HTTP " + httpStatus.FindStringSubmatch(msg)[1]
	case has("toomanyrequests", "rate limit"):
		return "the registry's rate limit was reached"
	case has("pull access denied", "unauthorized", "denied"), cerrdefs.IsUnauthorized(err), cerrdefs.IsPermissionDenied(err):
		return "the registry refused it: the image does not exist there, or it needs a login (drover pulls anonymously)"
	case has("manifest unknown", "not found"), cerrdefs.IsNotFound(err):
		return "the registry has no such image or tag"
	}
	return "the registry's answer was not an image (the worker's log has the engine's error)"
}

// where names this worker in messages.
func (e *Executor) where() string {
	if e.cfg.WorkerID != "" {
		return "worker " + e.cfg.WorkerID
	}
	return "this worker"
}
