package docker

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/drover-dev/drover"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// usageSampler follows the engine's stats stream of a running container and
// keeps the peak memory and the CPU time seen so far.
//
// The figures are a best effort. The engine samples about once a second,
// and the container's cgroup is gone as soon as it exits. The last second
// of a run is therefore not counted. A run shorter than the first sample
// reports zero. Peak memory is the cgroup's own high-water mark where the
// engine reports it, as cgroup v1's memory.max_usage_in_bytes. Elsewhere
// it is the highest usage sampled.
type usageSampler struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	usage  drover.Usage
}

// sampleUsage starts following container id; stop ends it.
func (e *Executor) sampleUsage(ctx context.Context, id string) *usageSampler {
	ctx, cancel := context.WithCancel(ctx)
	s := &usageSampler{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		resp, err := e.cli.ContainerStats(ctx, id, client.ContainerStatsOptions{Stream: true})
		if err != nil {
			if ctx.Err() == nil {
				e.log.Debug("container stats unavailable", "container", id, "err", err)
			}
			return
		}
		defer resp.Body.Close()
		dec := json.NewDecoder(resp.Body)
		for {
			var st container.StatsResponse
			if err := dec.Decode(&st); err != nil {
				return // the stream ends with the container or with stop
			}
			s.record(&st)
		}
	}()
	return s
}

func (s *usageSampler) record(st *container.StatsResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Maxima, because the engine sends zeros once the cgroup is gone.
	peak := int64(max(st.MemoryStats.MaxUsage, st.MemoryStats.Usage))
	s.usage.PeakMemoryBytes = max(s.usage.PeakMemoryBytes, peak)
	s.usage.CPUSeconds = max(s.usage.CPUSeconds, float64(st.CPUStats.CPUUsage.TotalUsage)/1e9)
}

// stop ends the stream, waits for its goroutine and returns what was seen.
func (s *usageSampler) stop() drover.Usage {
	s.cancel()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.usage
}
