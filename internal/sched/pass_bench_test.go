package sched

import (
	"testing"

	"github.com/drover-dev/drover"
)

// BenchmarkPlace32Jobs4Workers16Slots10Free is one pass of the coordinator
// under drover bench's load: 4 workers x 16 slots with 10 free, and the head
// of the queue the coordinator reads for them (2 x free slots, at least 32
// jobs), not the whole queue.
func BenchmarkPlace32Jobs4Workers16Slots10Free(b *testing.B) {
	workers := benchFleet(4, 64000, 256*1024, 16)
	free := 10
	for i := range workers {
		busy := 16 - free/len(workers)
		if i < free%len(workers) {
			busy--
		}
		workers[i].Allocated = drover.Allocated{CPU: int64(busy) * 100, MemoryMB: int64(busy) * 128, Slots: busy}
	}
	benchPlace(b, benchQueue(32), workers)
}
