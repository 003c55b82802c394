package coordinator

import (
	"context"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/metrics"
)

// coordMetrics are the coordinator's Prometheus metrics. Counters and
// histograms are kept as things happen. The gauges of jobs and workers by
// state are read from the store at each scrape. They are then right
// however many coordinators share the store.
type coordMetrics struct {
	submitted    *metrics.Counter
	finished     *metrics.CounterVec // by final state
	passes       *metrics.Histogram
	assigned     *metrics.Counter
	startLatency *metrics.Histogram
	outputBytes  *metrics.Counter
	misses       *metrics.Counter
}

func newCoordMetrics(r *metrics.Registry, c *Coordinator) *coordMetrics {
	m := &coordMetrics{
		submitted: r.Counter("drover_jobs_submitted_total", "Jobs submitted (a repeated submission with the same Idempotency-Key is counted once)."),
		finished:  r.CounterVec("drover_jobs_finished_total", "Jobs that reached a final state, by that state.", "state"),
		passes: r.Histogram("drover_scheduling_pass_duration_seconds", "Duration of scheduling passes (read the queue head and the workers, place, assign).",
			metrics.LatencyBuckets),
		assigned: r.Counter("drover_jobs_assigned_total", "Attempts created by scheduling passes."),
		startLatency: r.Histogram("drover_job_start_latency_seconds", "From a job's submission (or requeue, for a retry) to its command running.",
			metrics.LatencyBuckets),
		outputBytes: r.Counter("drover_output_bytes_total", "Bytes of job output received from workers (a retried post counts again)."),
		misses:      r.Counter("drover_worker_heartbeat_misses_total", "Workers marked DOWN for staying silent past the heartbeat timeout."),
	}

	// Each scrape counts twice, for jobs by state and for the queue depth.
	// Each count walks the state index.
	jobCounts := c.store.CountJobs
	r.GaugeFunc("drover_jobs", "Jobs in the store by state (finished jobs are kept for the retention).", "gauge", []string{"state"},
		func(ctx context.Context) ([]metrics.Sample, error) {
			cs, err := jobCounts(ctx)
			if err != nil {
				return nil, err
			}
			out := make([]metrics.Sample, 0, len(drover.JobStates))
			for _, st := range drover.JobStates {
				out = append(out, metrics.Sample{Labels: []string{string(st)}, Value: float64(cs[st])})
			}
			return out, nil
		})
	r.GaugeFunc("drover_queue_depth", "Jobs waiting to be placed (QUEUED, including retries in their backoff).", "gauge", nil,
		func(ctx context.Context) ([]metrics.Sample, error) {
			cs, err := jobCounts(ctx)
			if err != nil {
				return nil, err
			}
			return []metrics.Sample{{Value: float64(cs[drover.JobQueued])}}, nil
		})
	// A store that groups its writes says how well (the SQLite store does).
	if cs, ok := c.store.(interface{ CommitStats() (uint64, uint64) }); ok {
		r.GaugeFunc("drover_store_commits_total", "Write transactions the store committed (each waits for the disk once).", "counter", nil,
			func(context.Context) ([]metrics.Sample, error) {
				n, _ := cs.CommitStats()
				return []metrics.Sample{{Value: float64(n)}}, nil
			})
		r.GaugeFunc("drover_store_writes_total", "Write calls the store ran; several concurrent calls share one commit.", "counter", nil,
			func(context.Context) ([]metrics.Sample, error) {
				_, n := cs.CommitStats()
				return []metrics.Sample{{Value: float64(n)}}, nil
			})
	}
	r.GaugeFunc("drover_workers", "Registered workers by state.", "gauge", []string{"state"},
		func(ctx context.Context) ([]metrics.Sample, error) {
			ws, err := c.store.Fleet(ctx)
			if err != nil {
				return nil, err
			}
			n := map[drover.WorkerState]int{}
			for i := range ws {
				n[ws[i].State]++
			}
			var out []metrics.Sample
			for _, st := range []drover.WorkerState{drover.WorkerReady, drover.WorkerDraining, drover.WorkerDown} {
				out = append(out, metrics.Sample{Labels: []string{string(st)}, Value: float64(n[st])})
			}
			return out, nil
		})
	return m
}

// jobFinished counts a job that has just reached a final state.
func (m *coordMetrics) jobFinished(j *drover.Job) {
	if j != nil && j.State.Final() {
		m.finished.With(string(j.State)).Inc()
	}
}
