package cli

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/coordinator"
	"github.com/drover-dev/drover/internal/worker"
)

// workerStopWait bounds how long drover dev waits for its worker to stop.
const workerStopWait = 15 * time.Second

// cmdDev is drover dev: a coordinator, a local worker and the web UI in one
// process. It serves loopback only, as it has no tokens.
// The first Ctrl-C drains the worker and the second stops it at once.
func cmdDev(ctx context.Context, a *app, args []string) int {
	sf, wf, code := parseDevFlags(a, args)
	if sf == nil {
		return code
	}
	p, log, code := startFromFlags(ctx, a, sf)
	if p == nil {
		return code
	}
	w, code := newDevWorker(ctx, a, log, p, sf, wf)
	if w == nil {
		p.shutdown()
		wf.stopGuard()
		return code
	}
	printDevBanner(a, p.url, sf.data)
	runDev(ctx, a, log, p, wf, w)
	p.shutdown()
	wf.stopGuard()
	return exitOK
}

// parseDevFlags reads drover dev's flags and refuses a listen address
// beyond loopback unless --insecure is given.
// On failure it has said why and returns nil flags and the exit code.
func parseDevFlags(a *app, args []string) (*serverFlags, *workerFlags, int) {
	fs := newFlags(a, "dev")
	sf := &serverFlags{}
	wf := &workerFlags{dev: true}
	sf.add(a, fs, "127.0.0.1:8080", ".drover")
	wf.add(a, fs)
	if _, err := parse(fs, args); err != nil {
		return nil, nil, usageCode(err)
	}
	if err := a.envError(fs); err != nil {
		a.errorf("%v", err)
		return nil, nil, exitUsage
	}
	if err := sf.resolveTokens(a, fs); err != nil {
		a.errorf("%v", err)
		return nil, nil, exitUsage
	}
	if !isLoopback(sf.listen) && !sf.insecure {
		a.errorf("drover dev listens on loopback only (it has no tokens); use drover server to serve a network")
		return nil, nil, exitUsage
	}
	return sf, wf, exitOK
}

// newDevWorker makes drover dev's local worker for the coordinator p.
// It first removes the local workers that earlier runs left listed.
// On failure it has said why and returns nil and the exit code.
func newDevWorker(ctx context.Context, a *app, log *slog.Logger, p *coordinatorProcess, sf *serverFlags, wf *workerFlags) (*worker.Worker, int) {
	cfg, err := wf.config(ctx, log)
	if err != nil {
		a.errorf("%v", err)
		return nil, exitUsage
	}
	// The coordinator in this process holds the join token anyway.
	// The worker may have it again if the coordinator forgets it.
	joinToken := sf.joinToken
	cfg.Server, cfg.JoinToken = p.url, joinToken
	cfg.ReadJoinToken = func() (string, error) { return joinToken, nil }
	cfg.Labels[drover.LocalLabel] = "true"
	if err := evictEarlierRuns(ctx, p.coord, log); err != nil {
		a.errorf("%v", err)
		return nil, exitError
	}
	w, err := worker.New(cfg)
	if err != nil {
		a.errorf("%v", err)
		return nil, exitError
	}
	return w, exitOK
}

// printDevBanner tells a newcomer where drover dev serves and what to try.
func printDevBanner(a *app, url, data string) {
	abs, _ := filepath.Abs(data)
	try := "drover run -- echo hello"
	if url != defaultServer {
		try = "DROVER_SERVER=" + url + " " + try
	}
	fmt.Fprintf(a.stderr, `
  drover dev is up: coordinator, a local worker and the web UI
    UI and API:  %s
    data:        %s (delete it to start afresh)
    try:         %s
  Ctrl-C lets running jobs finish, then stops; Ctrl-C again stops at once
  (they run again at the next start). Queued jobs wait for the next start.

`, url, abs, try)
}

// runDev runs the local worker until drover dev is to stop, then stops it.
// The coordinator serves throughout, so followers see the jobs end.
// The first Ctrl-C drains the worker, as drover worker does.
func runDev(ctx context.Context, a *app, log *slog.Logger, p *coordinatorProcess, wf *workerFlags, w *worker.Worker) {
	wctx, stopWorker := context.WithCancel(context.WithoutCancel(ctx))
	var runErr error
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		runErr = w.Run(wctx)
	}()
	select {
	case <-ctx.Done():
		if drainUntilSecondSignal(log, w, stopped, "draining: finishing running jobs; Ctrl-C again to stop at once") {
			log.Warn("stopping now; running jobs will run again at the next start")
		}
	case <-stopped:
		if runErr != nil {
			a.errorf("worker: %v", runErr)
			break
		}
		serveWithoutWorker(ctx, a, log, p, wf)
	case err := <-p.served:
		if err != nil {
			a.errorf("serve: %v", err)
		}
	}
	stopWorker()
	waitWorker(stopped)
}

// serveWithoutWorker goes on serving after the local worker drained and
// left. A drain from the UI or the API does that. The coordinator and the UI
// go on, since a UI page is what drained the worker.
// It returns at Ctrl-C, or when serving ends.
func serveWithoutWorker(ctx context.Context, a *app, log *slog.Logger, p *coordinatorProcess, wf *workerFlags) {
	wf.stopGuard() // nothing of the worker is left to guard
	log.Warn("the local worker drained and left; the coordinator and UI go on serving: start a worker to run jobs (drover worker --server " + p.url + "), Ctrl-C to stop")
	select {
	case <-ctx.Done():
	case err := <-p.served:
		if err != nil {
			a.errorf("serve: %v", err)
		}
	}
}

// waitWorker waits for the worker's Run to return, at most workerStopWait.
// A worker that does not stop in time is left behind, as the process is
// about to exit.
func waitWorker(stopped <-chan struct{}) {
	t := time.NewTimer(workerStopWait)
	defer t.Stop()
	select {
	case <-stopped:
	case <-t.C:
	}
}

// evictEarlierRuns removes the live local workers that the store lists as
// drover dev starts.
// They belong to earlier runs on this data folder that ended without
// leaving, killed or cut by a power loss. This run's worker has not
// registered yet, so none of them is it. Left listed, one would hold its
// name and its jobs for a heartbeat timeout after this start.
func evictEarlierRuns(ctx context.Context, coord *coordinator.Coordinator, log *slog.Logger) error {
	ws, err := coord.Workers(ctx)
	if err != nil {
		return fmt.Errorf("read the workers: %w", err)
	}
	for _, w := range ws {
		if w.Labels[drover.LocalLabel] != "true" || w.State == drover.WorkerDown {
			continue
		}
		if err := coord.Evict(ctx, w.ID); err != nil {
			return fmt.Errorf("remove the worker %s of an earlier drover dev: %w", w.ID, err)
		}
		log.Info("removed the worker of an earlier drover dev that ended without leaving", "worker", w.ID, "name", w.Name)
	}
	return nil
}
