package sched

import (
	"cmp"
	"fmt"
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover"
)

// refPlace is placement as DESIGN.md §3 states it, with none of Place's
// shortcuts (shape memo, group bounds, repeat placement, early stop) and
// exact rational scores: the oracle Place must agree with.
func refPlace(now time.Time, jobs []drover.Job, workers []drover.Worker) ([]Assignment, []string) {
	var order []*drover.Job
	for i := range jobs {
		if jobs[i].State == drover.JobQueued || jobs[i].State == "" {
			order = append(order, &jobs[i])
		}
	}
	queuedAt := func(j *drover.Job) time.Time {
		if !j.QueueRank.IsZero() {
			return j.QueueRank
		}
		if j.QueuedAt != nil {
			return *j.QueuedAt
		}
		return j.CreatedAt
	}
	slices.SortFunc(order, func(a, b *drover.Job) int {
		return cmp.Or(cmp.Compare(b.Spec.Priority, a.Spec.Priority), queuedAt(a).Compare(queuedAt(b)), strings.Compare(a.ID, b.ID))
	})
	free := make([]drover.Allocated, len(workers))
	active := make([]int, len(workers))
	for i := range workers {
		free[i], active[i] = workers[i].Free(), workers[i].Allocated.Slots
	}
	var placed []Assignment
	var pending []string
	for _, j := range order {
		if j.NotBefore != nil && j.NotBefore.After(now) {
			pending = append(pending, j.ID)
			continue
		}
		r := j.Spec.Resources
		best := -1
		var bestScore *big.Rat
		for i := range workers {
			w := &workers[i]
			if w.State != drover.WorkerReady || free[i].Slots < 1 || free[i].CPU < r.CPU || free[i].MemoryMB < r.MemoryMB {
				continue
			}
			imageless := false
			for _, e := range w.Executors {
				imageless = imageless || e != drover.ExecutorDocker
			}
			if j.Spec.Executor == "" && !imageless || j.Spec.Executor != "" && !w.HasExecutor(j.Spec.Executor) {
				continue
			}
			ok := true
			for k, v := range j.Spec.Constraints {
				if wv, has := w.Labels[k]; !has || wv != v {
					ok = false
				}
			}
			if !ok {
				continue
			}
			score := new(big.Rat).Add(
				big.NewRat(free[i].CPU-r.CPU, w.Capacity.CPU),
				big.NewRat(free[i].MemoryMB-r.MemoryMB, w.Capacity.MemoryMB))
			if best < 0 {
				best, bestScore = i, score
				continue
			}
			c := cmp.Or(score.Cmp(bestScore), cmp.Compare(active[i], active[best]), strings.Compare(w.ID, workers[best].ID))
			if c < 0 {
				best, bestScore = i, score
			}
		}
		if best < 0 {
			pending = append(pending, j.ID)
			continue
		}
		free[best].CPU -= r.CPU
		free[best].MemoryMB -= r.MemoryMB
		free[best].Slots--
		active[best]++
		placed = append(placed, Assignment{JobID: j.ID, WorkerID: workers[best].ID})
	}
	return placed, pending
}

// randomPass draws a small fleet and queue from few values, so shapes, groups
// and ties repeat and every shortcut of Place is exercised.
func randomPass(r *rand.Rand) ([]drover.Job, []drover.Worker) {
	pick := func(vs ...int64) int64 { return vs[r.IntN(len(vs))] }
	states := []drover.WorkerState{drover.WorkerReady, drover.WorkerReady, drover.WorkerReady, drover.WorkerDraining, drover.WorkerDown}
	execSets := [][]string{{"process"}, {"docker"}, {"process", "docker"}, {"noop"}, nil}
	labelSets := []map[string]string{nil, {"zone": "eu"}, {"zone": "us"}, {"zone": "eu", "gpu": "a100"}, {"gpu": "a100"}}
	workers := make([]drover.Worker, r.IntN(12))
	for i := range workers {
		if i > 0 && r.IntN(3) == 0 {
			// A twin of an earlier worker, as fleets of one machine type
			// have, so that classes of interchangeable workers form.
			workers[i] = workers[r.IntN(i)]
			workers[i].ID = fmt.Sprintf("w%d", r.IntN(20))
			if r.IntN(3) == 0 {
				workers[i].Allocated.Slots = r.IntN(3) // same resources, other load
			}
			continue
		}
		cpu, mem := pick(1000, 2000, 4000, 16000), pick(1024, 4096, 8192, 3000)
		workers[i] = drover.Worker{
			ID:        fmt.Sprintf("w%d", r.IntN(20)), // duplicates are possible and harmless
			State:     states[r.IntN(len(states))],
			Executors: execSets[r.IntN(len(execSets))],
			Labels:    labelSets[r.IntN(len(labelSets))],
			Capacity:  drover.Capacity{CPU: cpu, MemoryMB: mem, Slots: int(pick(0, 1, 2, 4, 8))},
		}
		if r.IntN(2) == 0 {
			workers[i].Allocated = drover.Allocated{CPU: r.Int64N(cpu + 1), MemoryMB: r.Int64N(mem + 1), Slots: r.IntN(3)}
		}
	}
	specs := []drover.JobSpec{
		{Resources: drover.Resources{CPU: 100, MemoryMB: 128}},
		{}, // requests nothing: placing it changes only the active count
		{Resources: drover.Resources{CPU: 500, MemoryMB: 512}},
		{Resources: drover.Resources{CPU: 1000, MemoryMB: 1024}},
		{Resources: drover.Resources{CPU: 3000, MemoryMB: 256}},
		{Resources: drover.Resources{CPU: 250, MemoryMB: 3000}},
		{Resources: drover.Resources{CPU: 20000, MemoryMB: 128}},
		{Executor: "docker", Resources: drover.Resources{CPU: 500, MemoryMB: 512}},
		{Executor: "noop", Resources: drover.Resources{CPU: 100, MemoryMB: 128}},
		{Constraints: map[string]string{"zone": "eu"}, Resources: drover.Resources{CPU: 500, MemoryMB: 512}},
		{Constraints: map[string]string{"zone": "eu", "gpu": "a100"}, Resources: drover.Resources{CPU: 100, MemoryMB: 128}},
		{Executor: "docker", Constraints: map[string]string{"gpu": "a100"}, Resources: drover.Resources{CPU: 100, MemoryMB: 128}},
	}
	jobs := make([]drover.Job, r.IntN(60))
	for i := range jobs {
		q := t0.Add(time.Duration(r.IntN(5)) * time.Second)
		jobs[i] = drover.Job{
			ID:       fmt.Sprintf("j%02d", i),
			State:    drover.JobQueued,
			Spec:     specs[r.IntN(len(specs))],
			QueuedAt: &q,
		}
		jobs[i].Spec.Priority = int(pick(0, 0, 0, 1, 5))
		if r.IntN(3) == 0 {
			// A place in the queue apart from queuedAt, as a fleet requeue leaves.
			jobs[i].QueueRank = t0.Add(time.Duration(r.IntN(5)) * time.Second)
		}
		switch r.IntN(10) {
		case 0:
			nb := t0.Add(time.Duration(r.IntN(3)-1) * time.Second)
			jobs[i].NotBefore = &nb
		case 1:
			jobs[i].State = drover.JobRunning
		}
	}
	// Runs of the same spec, as batch submissions make, drive repeat placement.
	for i := 1; i < len(jobs); i++ {
		if r.IntN(3) == 0 {
			jobs[i].Spec = jobs[i-1].Spec
		}
	}
	r.Shuffle(len(jobs), func(i, j int) { jobs[i], jobs[j] = jobs[j], jobs[i] })
	return jobs, workers
}

func TestPlaceAgreesWithReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 10000 {
		jobs, workers := randomPass(r)
		got := Place(t0, jobs, workers)
		want, wantPending := refPlace(t0, jobs, workers)
		if !slices.Equal(got.Assignments, want) {
			t.Fatalf("pass %d: assignments\n got %v\nwant %v\njobs %+v\nworkers %+v", n, got.Assignments, want, jobs, workers)
		}
		if len(got.Pending) != len(wantPending) {
			t.Fatalf("pass %d: %d pending, want %d: %v", n, len(got.Pending), len(wantPending), got.Pending)
		}
		for _, id := range wantPending {
			reason, ok := got.Pending[id]
			if !ok || reason == "" || strings.Contains(reason, "can take it now") {
				t.Fatalf("pass %d: pending %s: %q", n, id, reason)
			}
		}
	}
}
