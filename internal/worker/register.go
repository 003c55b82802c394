package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/client"
	"github.com/drover-dev/drover/internal/retry"
)

// errDrainedUnregistered ends Run when a drain comes before the worker is
// registered. Nothing runs, so the drain is done.
var errDrainedUnregistered = errors.New("drained before registering")

// coordinatorBackoff is the wait between a worker's tries to reach its
// coordinator.
var coordinatorBackoff = retry.Backoff{First: 100 * time.Millisecond, Max: 5 * time.Second, Jitter: true}

// register admits the worker. It retries while the coordinator is away.
// A refusal is final, such as for a bad token, a name another live worker
// holds or an invalid capacity. A certificate the worker cannot verify is
// final too.
// A drain ends the wait.
//
// Once registered, the worker keeps the new secret and no join token. It
// keeps the secret in memory and in the work dir.
func (w *Worker) register(ctx context.Context) error {
	token, err := w.joinToken()
	if err != nil {
		return err
	}
	req := w.registerRequest()
	// The join token goes on a copy of the client that ends with this
	// call.
	joinClient := w.bareClient.WithToken(token)
	rctx, cancel := w.untilDrained(ctx)
	defer cancel()
	var resp *drover.RegisterResponse
	err = retry.Do(rctx, retry.Policy{
		Backoff:   coordinatorBackoff,
		Retryable: func(err error) bool { return client.Temporary(err) && !client.Untrusted(err) },
		OnRetry: func(err error, wait time.Duration) {
			w.log.Warn("coordinator unreachable; retrying", "server", w.cfg.Server, "err", err, "in", wait)
		},
	}, func(ctx context.Context) (err error) {
		resp, err = joinClient.Register(ctx, req)
		return err
	})
	switch {
	case err == nil:
	case rctx.Err() != nil && ctx.Err() == nil:
		w.log.Info("drained before registering: nothing ran; stopping")
		return errDrainedUnregistered
	case ctx.Err() != nil:
		return ctx.Err()
	case client.Untrusted(err):
		return fmt.Errorf("register with %s: %w (trust the coordinator's certificate: add its CA to the system's, or point SSL_CERT_FILE at it)", w.cfg.Server, err)
	default:
		return fmt.Errorf("register with %s: %w", w.cfg.Server, err)
	}
	w.registered(resp)
	w.log.Info("registered", "worker", resp.Worker.ID, "name", w.cfg.Name, "server", w.cfg.Server,
		"cpu", drover.FormatCPU(w.cfg.Capacity.CPU), "memory", drover.FormatMemory(w.cfg.Capacity.MemoryMB),
		"slots", w.cfg.Capacity.Slots, "executors", req.Executors)
	return nil
}

// registerRequest is what the worker registers with. It carries the
// secret the worker held before, if any. An earlier life of this worker
// kept it in the work dir, or the coordinator forgot the current one. It
// proves that this worker is the one the coordinator lists under its name.
func (w *Worker) registerRequest() drover.RegisterRequest {
	names := make([]string, 0, len(w.cfg.Executors))
	for _, e := range w.cfg.Executors {
		names = append(names, e.Name())
	}
	w.mu.Lock()
	previous := w.secret
	w.mu.Unlock()
	req := drover.RegisterRequest{Name: w.cfg.Name, Labels: w.cfg.Labels, Executors: names, Capacity: w.cfg.Capacity,
		Version: drover.Version, PreviousSecret: previous}
	if !w.cfg.NoGrace {
		req.Grace = drover.Duration(w.cfg.Grace)
	}
	return req
}

// untilDrained returns a context that ends with ctx or when a drain
// starts. A drain must end a registration call under way too. A
// coordinator that does not answer can hold one as long as a connection
// takes to fail.
func (w *Worker) untilDrained(ctx context.Context) (context.Context, context.CancelFunc) {
	dctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-w.drainCh:
			cancel()
		case <-dctx.Done():
		}
	}()
	return dctx, cancel
}

// registered keeps the coordinator's answer: the worker's id and secret.
// It drops the join token from the config, so only the worker's own secret
// is left. It saves the secret in the work dir for a restart. Without it a
// restarted worker waits until its earlier registration is found DOWN.
func (w *Worker) registered(resp *drover.RegisterResponse) {
	w.mu.Lock()
	w.id, w.secret = resp.Worker.ID, resp.Secret
	w.workerClient = w.bareClient.WithToken(resp.Secret)
	w.interval = resp.HeartbeatInterval.D()
	w.joined, w.cfg.JoinToken = true, ""
	w.mu.Unlock()
	if err := w.ident.save(resp.Secret); err != nil {
		w.log.Warn("a restart of this worker will be refused its name until this registration is found DOWN", "err", err)
	}
}

// errNoJoinToken ends a worker the coordinator forgot, when it has no join
// token left to register again with.
var errNoJoinToken = errors.New("the coordinator no longer knows this worker (its data was reset, or the worker was DOWN past its --down-retention), " +
	"and registering again needs the join token, which a worker does not keep once registered: start the worker again " +
	"(a service manager restarts it), or give it --join-token-file, which it reads again when it must register again")

// joinToken returns the join token for a registration. The first one
// uses Config.JoinToken. A later one reads the token again with
// ReadJoinToken. A worker that had a token and cannot read one fails with
// errNoJoinToken.
func (w *Worker) joinToken() (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case !w.joined:
		return w.cfg.JoinToken, nil
	case w.cfg.ReadJoinToken != nil:
		t, err := w.cfg.ReadJoinToken()
		if err != nil {
			return "", fmt.Errorf("read the join token to register again: %w", err)
		}
		return t, nil
	case w.hadToken:
		return "", errNoJoinToken
	}
	return "", nil
}
