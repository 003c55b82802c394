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
)

// idle registers IdleWorkers simulated workers that do what an idle agent
// does, heartbeat every Heartbeat (±20%) and keep a 30 s long-poll open,
// and measures the coordinator's CPU over IdleWindow once they are all in
// step. They deregister afterwards.
func (b *bench) idle(ctx context.Context) error {
	n, every := b.cfg.IdleWorkers, b.cfg.Heartbeat
	b.logf("idle workers: %d heartbeating every %s", n, every)
	// Connections for two calls in flight per worker, kept open: a new
	// connection per call would measure the TCP handshake, not drover.
	hc := &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        2*n + 16,
		MaxIdleConnsPerHost: 2*n + 16,
		IdleConnTimeout:     90 * time.Second,
	}}
	defer hc.CloseIdleConnections()
	api := client.New(b.cfg.Server, client.WithToken(b.cfg.JoinToken), client.WithHTTPClient(hc))

	type sim struct {
		id  string
		api *client.Client
	}
	sims := make([]sim, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	for range min(32, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n && ctx.Err() == nil; i = int(next.Add(1)) - 1 {
				resp, err := api.Register(ctx, drover.RegisterRequest{
					Name:      fmt.Sprintf("bench-idle-%d", i+1),
					Labels:    map[string]string{Label: b.runID + "-idle"},
					Executors: []string{drover.ExecutorNoop},
					Capacity:  drover.Capacity{CPU: 1000, MemoryMB: 128, Slots: 1},
					Version:   drover.Version,
				})
				if err != nil {
					select {
					case errs <- fmt.Errorf("register simulated worker: %w", err):
					default:
					}
					return
				}
				sims[i] = sim{id: resp.Worker.ID, api: api.WithToken(resp.Secret)}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	var beats atomic.Int64
	sctx, stop := context.WithCancel(ctx)
	var loops sync.WaitGroup
	for _, s := range sims {
		loops.Add(2)
		go func() { // heartbeat, first at a random point of the interval
			defer loops.Done()
			wait := time.Duration(rand.Int64N(int64(every)))
			for {
				select {
				case <-sctx.Done():
					return
				case <-time.After(wait):
				}
				if _, err := s.api.Heartbeat(sctx, s.id, drover.HeartbeatRequest{Running: []string{}}); err == nil {
					beats.Add(1)
				}
				wait = every - every/5 + time.Duration(rand.Int64N(int64(every/5)*2+1))
			}
		}()
		go func() { // the long-poll, as an idle agent keeps it
			defer loops.Done()
			for sctx.Err() == nil {
				if _, err := s.api.Work(sctx, s.id, 30*time.Second, false); err != nil && sctx.Err() == nil {
					select {
					case <-sctx.Done():
					case <-time.After(time.Second):
					}
				}
			}
		}()
	}
	// Two intervals to get in step, then the window.
	select {
	case <-ctx.Done():
	case <-time.After(2 * every):
	}
	before, err := b.stats.read(ctx)
	t0 := time.Now()
	beats0 := beats.Load()
	if err == nil {
		select {
		case <-ctx.Done():
		case <-time.After(b.cfg.IdleWindow):
		}
	}
	after, err2 := b.stats.read(ctx)
	wall := time.Since(t0)
	beatsN := beats.Load() - beats0
	stop()
	loops.Wait()
	b.deregister(ctx, n, func(i int) (string, *client.Client) { return sims[i].id, sims[i].api })
	if err != nil {
		return err
	}
	if err2 != nil {
		return err2
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b.res.IdleWorkers = n
	b.res.IdleHeartbeat = every.String()
	b.res.IdleCores = (after.CPU - before.CPU).Seconds() / wall.Seconds()
	b.res.IdleHeartbeatsPS = float64(beatsN) / wall.Seconds()
	b.logf("idle workers: %.2f cores for %.0f heartbeats/s", b.res.IdleCores, b.res.IdleHeartbeatsPS)
	return nil
}

// deregister removes the simulated workers, 32 at a time; failures are
// left for the coordinator's reaper.
func (b *bench) deregister(ctx context.Context, n int, get func(i int) (string, *client.Client)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(32, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n && ctx.Err() == nil; i = int(next.Add(1)) - 1 {
				if id, api := get(i); api != nil {
					_ = api.Deregister(ctx, id)
				}
			}
		}()
	}
	wg.Wait()
}
