package sched

import (
	"time"

	"github.com/drover-dev/drover"
)

// Builders for table tests: a READY worker with the process executor and a
// QUEUED job queued at t0, each adjusted by options.

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type workerOpt func(*drover.Worker)

func wk(id string, cpu, mem int64, slots int, opts ...workerOpt) drover.Worker {
	w := drover.Worker{
		ID:        id,
		State:     drover.WorkerReady,
		Executors: []string{drover.ExecutorProcess},
		Capacity:  drover.Capacity{CPU: cpu, MemoryMB: mem, Slots: slots},
	}
	for _, o := range opts {
		o(&w)
	}
	return w
}

func used(cpu, mem int64, slots int) workerOpt {
	return func(w *drover.Worker) { w.Allocated = drover.Allocated{CPU: cpu, MemoryMB: mem, Slots: slots} }
}

func wstate(s drover.WorkerState) workerOpt { return func(w *drover.Worker) { w.State = s } }

func executors(names ...string) workerOpt { return func(w *drover.Worker) { w.Executors = names } }

func wlabels(kv ...string) workerOpt {
	return func(w *drover.Worker) {
		w.Labels = map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			w.Labels[kv[i]] = kv[i+1]
		}
	}
}

func named(name string) workerOpt { return func(w *drover.Worker) { w.Name = name } }

type jobOpt func(*drover.Job)

func jb(id string, cpu, mem int64, opts ...jobOpt) drover.Job {
	q := t0
	j := drover.Job{
		ID:        id,
		State:     drover.JobQueued,
		Spec:      drover.JobSpec{Resources: drover.Resources{CPU: cpu, MemoryMB: mem}},
		CreatedAt: t0,
		QueuedAt:  &q,
	}
	for _, o := range opts {
		o(&j)
	}
	return j
}

func prio(p int) jobOpt { return func(j *drover.Job) { j.Spec.Priority = p } }

func queuedAt(d time.Duration) jobOpt {
	return func(j *drover.Job) { t := t0.Add(d); j.QueuedAt = &t }
}

func notBefore(t time.Time) jobOpt { return func(j *drover.Job) { j.NotBefore = &t } }

func executor(name string) jobOpt { return func(j *drover.Job) { j.Spec.Executor = name } }

func constraints(kv ...string) jobOpt {
	return func(j *drover.Job) {
		j.Spec.Constraints = map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			j.Spec.Constraints[kv[i]] = kv[i+1]
		}
	}
}

func jstate(s drover.JobState) jobOpt { return func(j *drover.Job) { j.State = s } }

// failedOn makes the job one that could not run on the workers ids, the
// last of them its last attempt's.
func failedOn(ids ...string) jobOpt {
	return func(j *drover.Job) {
		j.WorkerID, j.Reason, j.AvoidWorkers = ids[len(ids)-1], drover.ReasonExecutorError, ids
	}
}
