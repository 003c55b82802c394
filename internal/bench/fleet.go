package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/worker"
)

// fleet is the bench's worker agents, running in this process.
type fleet struct {
	workers []*worker.Worker
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// startWorkers starts the agents and returns once all have registered.
// They kill at once on cancel (no grace), as the cancel measurement asks.
func (b *bench) startWorkers(ctx context.Context) (*fleet, error) {
	cfg := b.cfg
	// The chosen executor comes first: it is what a job naming none runs on.
	var execs []worker.Executor
	for _, e := range cfg.Executors {
		if e.Name() == cfg.Executor {
			execs = append([]worker.Executor{e}, execs...)
		} else {
			execs = append(execs, e)
		}
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f := &fleet{cancel: cancel}
	for i := range cfg.Workers {
		w, err := worker.New(worker.Config{
			Server:    cfg.Server,
			JoinToken: cfg.JoinToken,
			Name:      fmt.Sprintf("bench-%d", i+1),
			Labels:    map[string]string{Label: b.runID},
			Executors: execs,
			Capacity:  drover.Capacity{CPU: int64(cfg.Slots) * 1000, MemoryMB: int64(cfg.Slots) * 128, Slots: cfg.Slots},
			NoGrace:   true,
			WorkDir:   filepath.Join(b.tmpDir, fmt.Sprintf("w%d", i+1)),
			RunAs:     cfg.RunAs,
			Logger:    cfg.Logger,
		})
		if err != nil {
			f.stop()
			return nil, err
		}
		f.workers = append(f.workers, w)
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			if err := w.Run(wctx); err != nil && wctx.Err() == nil {
				cfg.Logger.Error("bench worker", "err", err)
			}
		}()
	}
	// Each registration shows on the event stream.
	jctx, cancelWait := context.WithTimeout(ctx, 30*time.Second)
	defer cancelWait()
	if err := b.track.waitJoined(jctx, cfg.Workers); err != nil {
		f.stop()
		return nil, fmt.Errorf("workers did not register with %s within 30s: %w", cfg.Server, err)
	}
	b.logf("%d workers × %d slots registered", cfg.Workers, cfg.Slots)
	return f, nil
}

// stop drains the agents, so they deregister, and waits for them. Agents
// still running after ten seconds are stopped at once.
func (f *fleet) stop() {
	for _, w := range f.workers {
		w.Drain()
	}
	done := make(chan struct{})
	go func() { f.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		f.cancel()
		<-done
	}
	f.cancel()
}
