package bench

import (
	"context"
	"fmt"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// floor measures the machine's own rate of spawning /bin/true, with as many
// spawns in flight as the workers have slots: what drover's process
// executor is compared with. Each child gets its own process group, as the
// process executor gives it.
func (b *bench) floor(ctx context.Context) error {
	n := min(b.cfg.Jobs, DefaultFloorSpawnsMax)
	par := b.cfg.Workers * b.cfg.Slots
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, par)
	start := time.Now()
	busy := startBusy()
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				cmd := exec.Command("/bin/true")
				cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
				if err := cmd.Run(); err != nil {
					errs <- fmt.Errorf("spawn /bin/true: %w", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.res.FloorBusy = busy.stop()
	select {
	case err := <-errs:
		return err
	default:
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b.res.FloorSpawns = n
	b.res.FloorPerSec = float64(n) / elapsed.Seconds()
	b.logf("floor: /bin/true spawned directly, %d in parallel: %.0f/s", par, b.res.FloorPerSec)
	return nil
}
