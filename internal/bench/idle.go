package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/client"
	"github.com/drover-dev/drover/internal/retry"
)

// idleCallers is how many goroutines register or deregister the simulated
// workers at once.
const idleCallers = 32

// idlePoll is how long a simulated worker's long-poll waits, as an idle
// agent's does.
const idlePoll = 30 * time.Second

// idleSim is one simulated idle worker.
type idleSim struct {
	id  string
	api *client.Client // speaks with the worker's secret
}

// idleSample is what the idle phase measured over its window.
type idleSample struct {
	cpu   time.Duration // the coordinator's CPU time
	wall  time.Duration
	beats int64 // heartbeats answered
}

// idle measures what idle workers cost the coordinator.
// It registers IdleWorkers simulated workers that heartbeat and keep a
// long-poll open, as idle agents do. Once they are in step, it measures
// the coordinator's CPU over IdleWindow. The workers deregister afterwards.
func (b *bench) idle(ctx context.Context) error {
	n, every := b.cfg.IdleWorkers, b.cfg.Heartbeat
	b.logf("idle workers: %d heartbeating every %s", n, every)
	hc := idleHTTPClient(n)
	defer hc.CloseIdleConnections()
	api := client.New(b.cfg.Server, client.WithToken(b.cfg.JoinToken), client.WithHTTPClient(hc))
	sims, err := b.registerIdle(ctx, api, n)
	if err != nil {
		return err
	}
	var beats atomic.Int64
	stop := simulateIdle(ctx, sims, every, &beats)
	m, err := b.measureIdle(ctx, every, &beats)
	stop()
	deregister(ctx, sims)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b.res.IdleWorkers = n
	b.res.IdleHeartbeat = every.String()
	b.res.IdleCores = m.cpu.Seconds() / m.wall.Seconds()
	b.res.IdleHeartbeatsPS = float64(m.beats) / m.wall.Seconds()
	b.logf("idle workers: %.2f cores for %.0f heartbeats/s", b.res.IdleCores, b.res.IdleHeartbeatsPS)
	return nil
}

// idleHTTPClient is the HTTP client of n simulated workers.
// It keeps a connection open for each of the two calls a worker may have
// in flight. A new connection per call would measure the TCP handshake,
// not drover.
func idleHTTPClient(n int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        2*n + 16,
		MaxIdleConnsPerHost: 2*n + 16,
		IdleConnTimeout:     90 * time.Second,
	}}
}

// registerIdle registers n simulated workers through api, which holds the
// join token. A worker that registered stays registered on failure. The
// coordinator's reaper then removes it.
func (b *bench) registerIdle(ctx context.Context, api *client.Client, n int) ([]idleSim, error) {
	sims := make([]idleSim, n)
	err := forEach(ctx, n, idleCallers, func(i int) error {
		resp, err := api.Register(ctx, drover.RegisterRequest{
			Name:      fmt.Sprintf("bench-idle-%d", i+1),
			Labels:    map[string]string{Label: b.runID + "-idle"},
			Executors: []string{drover.ExecutorNoop},
			Capacity:  drover.Capacity{CPU: 1000, MemoryMB: 128, Slots: 1},
			Version:   drover.Version,
		})
		if err != nil {
			return fmt.Errorf("register simulated worker: %w", err)
		}
		sims[i] = idleSim{id: resp.Worker.ID, api: api.WithToken(resp.Secret)}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return sims, nil
}

// simulateIdle starts each simulated worker's heartbeat and long-poll.
// beats counts the heartbeats the coordinator answered.
// The returned stop ends both loops of every worker and waits for them.
func simulateIdle(ctx context.Context, sims []idleSim, every time.Duration, beats *atomic.Int64) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var loops sync.WaitGroup
	for _, s := range sims {
		loops.Go(func() { s.heartbeat(ctx, every, beats) })
		loops.Go(func() { s.poll(ctx) })
	}
	return func() { cancel(); loops.Wait() }
}

// heartbeat sends the worker's heartbeats until ctx ends.
// The first comes at a random point of the interval, so the workers spread
// over it. The next ones come with a real worker's jitter.
func (s idleSim) heartbeat(ctx context.Context, every time.Duration, beats *atomic.Int64) {
	wait := time.Duration(rand.Int64N(int64(every)))
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if _, err := s.api.Heartbeat(ctx, s.id, drover.HeartbeatRequest{Running: []string{}}); err == nil {
			beats.Add(1)
		}
		wait = retry.Jitter(every)
	}
}

// poll keeps the worker's long-poll open until ctx ends.
// After a failed poll it waits a second before the next.
func (s idleSim) poll(ctx context.Context) {
	for ctx.Err() == nil {
		if _, err := s.api.Work(ctx, s.id, idlePoll, false); err != nil && ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// measureIdle waits two heartbeat intervals for the workers to get in
// step. It then measures the coordinator's CPU and the heartbeats answered
// over IdleWindow.
func (b *bench) measureIdle(ctx context.Context, every time.Duration, beats *atomic.Int64) (idleSample, error) {
	select {
	case <-ctx.Done():
	case <-time.After(2 * every):
	}
	before, err := b.stats.read(ctx)
	if err != nil {
		return idleSample{}, err
	}
	t0 := time.Now()
	beats0 := beats.Load()
	select {
	case <-ctx.Done():
	case <-time.After(b.cfg.IdleWindow):
	}
	after, err := b.stats.read(ctx)
	if err != nil {
		return idleSample{}, err
	}
	return idleSample{cpu: after.CPU - before.CPU, wall: time.Since(t0), beats: beats.Load() - beats0}, nil
}

// deregister removes the simulated workers. A failure is left for the
// coordinator's reaper.
func deregister(ctx context.Context, sims []idleSim) {
	_ = forEach(ctx, len(sims), idleCallers, func(i int) error {
		_ = sims[i].api.Deregister(ctx, sims[i].id)
		return nil
	})
}

// forEach calls fn with each index from 0 to n-1, from up to par
// goroutines, and waits for them. It hands out no more indices once ctx
// ends or a call fails. It returns the first failure.
func forEach(ctx context.Context, n, par int, fn func(i int) error) error {
	var (
		next   atomic.Int64
		failed atomic.Bool
		first  error
		once   sync.Once
		wg     sync.WaitGroup
	)
	for range min(par, n) {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n && ctx.Err() == nil && !failed.Load(); i = int(next.Add(1)) - 1 {
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
					failed.Store(true)
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}
