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

// floor measures the machine's own rate of spawning /bin/true. drover's
// process executor is compared with it. As many spawns are in flight as
// the workers have slots. Each child gets its own process group, as the
// process executor gives it.
//
// It runs n spawns and adds them to the result, which holds the rate over
// every floor run. The bench runs half of them before the throughput run
// and half after. A machine whose speed drifts during the run is then
// compared with its speed around that run, not only before it. A virtual
// machine's speed often drifts within minutes.
func (b *bench) floor(ctx context.Context, n int) error {
	par := b.cfg.Workers * b.cfg.Slots
	if n <= 0 {
		return nil
	}
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
	busyUsed := busy.stop()
	select {
	case err := <-errs:
		return err
	default:
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r := b.res
	if busyUsed > 0 && (r.FloorSpawns == 0 || r.FloorBusy > 0) {
		r.FloorBusy += busyUsed
	} else {
		r.FloorBusy = 0 // unknown for some of the spawns
	}
	r.FloorSpawns += n
	r.floorElapsed += elapsed
	r.FloorPerSec = float64(r.FloorSpawns) / r.floorElapsed.Seconds()
	if r.JobsPerSec > 0 {
		r.RatioToFloor = r.JobsPerSec / r.FloorPerSec
	}
	b.logf("floor: /bin/true spawned directly, %d in parallel: %.0f/s (%.0f/s over every floor run)",
		par, float64(n)/elapsed.Seconds(), r.FloorPerSec)
	return nil
}
