package sched

import (
	"fmt"
	"testing"
	"time"

	"github.com/drover-dev/drover"
)

// benchQueue returns n queued jobs of a few shapes, in arrival order, the
// way a busy queue looks: mostly small default jobs, some bigger ones, a few
// pinned to a label, priorities mixed.
func benchQueue(n int) []drover.Job {
	shapes := []drover.Resources{{CPU: 100, MemoryMB: 128}, {CPU: 500, MemoryMB: 512}, {CPU: 2000, MemoryMB: 4096}, {CPU: 250, MemoryMB: 256}}
	jobs := make([]drover.Job, n)
	for i := range jobs {
		q := t0.Add(time.Duration(i) * time.Millisecond)
		jobs[i] = drover.Job{
			ID:       fmt.Sprintf("job_%08d", i),
			State:    drover.JobQueued,
			QueuedAt: &q,
			Spec:     drover.JobSpec{Resources: shapes[i%7%len(shapes)], Priority: i % 3},
		}
		if i%50 == 0 {
			jobs[i].Spec.Constraints = map[string]string{"zone": "eu"}
		}
	}
	return jobs
}

func benchFleet(n int, cpu, mem int64, slots int) []drover.Worker {
	workers := make([]drover.Worker, n)
	for i := range workers {
		zone := "us"
		if i%2 == 0 {
			zone = "eu"
		}
		workers[i] = drover.Worker{
			ID:        fmt.Sprintf("wrk_%05d", i),
			State:     drover.WorkerReady,
			Executors: []string{drover.ExecutorProcess, drover.ExecutorDocker},
			Labels:    map[string]string{"zone": zone},
			Capacity:  drover.Capacity{CPU: cpu, MemoryMB: mem, Slots: slots},
		}
	}
	return workers
}

func benchPlace(b *testing.B, jobs []drover.Job, workers []drover.Worker) {
	b.ReportAllocs()
	var res Result
	for b.Loop() {
		res = Place(t0, jobs, workers)
	}
	b.ReportMetric(float64(len(res.Assignments)), "placed")
}

// A small fleet with a deep queue: 64 slots fill at once and the rest of the
// queue is only classified.
func BenchmarkPlace20000Jobs4Workers16Slots(b *testing.B) {
	benchPlace(b, benchQueue(20000), benchFleet(4, 64000, 256*1024, 16))
}

// A large fleet with room for most of the queue.
func BenchmarkPlace10000Jobs1000Workers(b *testing.B) {
	benchPlace(b, benchQueue(10000), benchFleet(1000, 16000, 64*1024, 16))
}

// The same fleet, every job a different shape: no run of identical jobs
// and no failed shape to reuse, so every job scans its workers.
func BenchmarkPlace10000DistinctJobs1000Workers(b *testing.B) {
	jobs := benchQueue(10000)
	for i := range jobs {
		jobs[i].Spec.Resources = drover.Resources{CPU: int64(100 + i), MemoryMB: int64(128 + i%997)}
	}
	benchPlace(b, jobs, benchFleet(1000, 16000, 64*1024, 16))
}

// A full fleet: nothing fits, every job needs a reason.
func BenchmarkPlace20000Jobs1000BusyWorkers(b *testing.B) {
	workers := benchFleet(1000, 16000, 64*1024, 16)
	for i := range workers {
		workers[i].Allocated = drover.Allocated{CPU: 8000, MemoryMB: 8192, Slots: 16}
	}
	benchPlace(b, benchQueue(20000), workers)
}
