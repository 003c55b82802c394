package sched

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/drover-dev/drover"
)

// offerProcess is how a pending reason says to get a process worker.
const offerProcess = "an operator must start a worker with --executor process (or docker,process); process jobs are not isolated, so workers offer them only when told"

func TestPlace(t *testing.T) {
	const G = 1024
	busy := "all 2 READY workers have no free slot (2 of 2 slots busy)"
	tests := []struct {
		name    string
		now     time.Time // t0 when zero
		jobs    []drover.Job
		workers []drover.Worker
		want    []Assignment
		pending map[string]string
	}{
		{
			name:    "best fit takes the tightest worker",
			jobs:    []drover.Job{jb("j1", 1000, G)},
			workers: []drover.Worker{wk("big", 8000, 16*G, 4), wk("small", 2000, 2*G, 4)},
			want:    []Assignment{{"j1", "small"}},
		},
		{
			// Free shares after placement: a 1000/4000 + 32000/64000 = 0.75;
			// b 11000/16000 + 3000/4000 ≈ 1.44. Absolute amounts left would
			// prefer b (14000 against 33000).
			name:    "best fit adds the normalised CPU and memory shares",
			jobs:    []drover.Job{jb("j1", 1000, 1000)},
			workers: []drover.Worker{wk("a", 4000, 64000, 4, used(2000, 31000, 1)), wk("b", 16000, 4000, 4, used(4000, 0, 1))},
			want:    []Assignment{{"j1", "a"}},
		},
		{
			name:    "best fit counts shares, not absolute amounts",
			jobs:    []drover.Job{jb("j1", 1000, 1000)},
			workers: []drover.Worker{wk("a", 2000, 2000, 4), wk("b", 64000, 64000, 4, used(62000, 62000, 1))},
			// Both keep 1000 of each; a keeps 1/2 + 1/2, b 1/64 + 1/64.
			want: []Assignment{{"j1", "b"}},
		},
		{
			name:    "a tie goes to fewer active attempts",
			jobs:    []drover.Job{jb("j1", 1000, G)},
			workers: []drover.Worker{wk("a", 4000, 4*G, 8, used(0, 0, 3)), wk("b", 4000, 4*G, 8, used(0, 0, 1))},
			want:    []Assignment{{"j1", "b"}},
		},
		{
			name:    "a full tie goes to the smaller worker id, whatever the input order",
			jobs:    []drover.Job{jb("j1", 1000, G)},
			workers: []drover.Worker{wk("c", 4000, 4*G, 8), wk("a", 4000, 4*G, 8), wk("b", 4000, 4*G, 8)},
			want:    []Assignment{{"j1", "a"}},
		},
		{
			// a: 1000/10000 + 2000/10000 = 0.3; b: 3000/10000 + 0 = 0.3. In
			// float64 0.1+0.2 > 0.3, which would wrongly prefer b.
			name: "equal shares tie exactly",
			jobs: []drover.Job{jb("j1", 1000, 1000)},
			workers: []drover.Worker{
				wk("b", 10000, 10000, 8, used(6000, 9000, 1)),
				wk("a", 10000, 10000, 8, used(8000, 7000, 1)),
			},
			want: []Assignment{{"j1", "a"}},
		},
		{
			name:    "placements reduce free resources before the next job",
			jobs:    []drover.Job{jb("j1", 3000, G, queuedAt(0)), jb("j2", 3000, G, queuedAt(1)), jb("j3", 3000, G, queuedAt(2))},
			workers: []drover.Worker{wk("a", 4000, 8*G, 8), wk("b", 4000, 8*G, 8)},
			want:    []Assignment{{"j1", "a"}, {"j2", "b"}},
			pending: map[string]string{"j3": "needs 3 CPU; the largest free is 1 (worker a)"},
		},
		{
			name: "a job fills the tighter worker until it no longer fits",
			jobs: []drover.Job{
				jb("j1", 1000, G, queuedAt(1)), jb("j2", 1000, G, queuedAt(2)), jb("j3", 1000, G, queuedAt(3)),
				jb("j4", 1000, G, queuedAt(4)),
			},
			workers: []drover.Worker{wk("a", 4000, 4*G, 8), wk("b", 2000, 2*G, 8)},
			want:    []Assignment{{"j1", "b"}, {"j2", "b"}, {"j3", "a"}, {"j4", "a"}},
		},
		{
			name: "best fit packs identical workers one after the other",
			jobs: []drover.Job{
				jb("j1", 100, 1, queuedAt(1)), jb("j2", 100, 1, queuedAt(2)), jb("j3", 100, 1, queuedAt(3)),
				jb("j4", 100, 1, queuedAt(4)), jb("j5", 100, 1, queuedAt(5)),
			},
			workers: []drover.Worker{wk("w3", 4000, 4*G, 2), wk("w2", 4000, 4*G, 2), wk("w1", 4000, 4*G, 2)},
			want:    []Assignment{{"j1", "w1"}, {"j2", "w1"}, {"j3", "w2"}, {"j4", "w2"}, {"j5", "w3"}},
		},
		{
			// Placing nothing leaves every score equal, so the active
			// attempts of this pass decide.
			name:    "jobs requesting nothing spread by active attempts",
			jobs:    []drover.Job{jb("j1", 0, 0, queuedAt(1)), jb("j2", 0, 0, queuedAt(2)), jb("j3", 0, 0, queuedAt(3))},
			workers: []drover.Worker{wk("a", 4000, 4*G, 4), wk("b", 4000, 4*G, 4)},
			want:    []Assignment{{"j1", "a"}, {"j2", "b"}, {"j3", "a"}},
		},
		{
			name: "interleaved shapes and labels share the workers' free resources",
			jobs: []drover.Job{
				jb("j1", 3000, G, queuedAt(1)),
				jb("j2", 1000, G, queuedAt(2), constraints("zone", "eu")),
				jb("j3", 1000, G, queuedAt(3)),
				jb("j4", 1000, G, queuedAt(4), constraints("zone", "eu")),
			},
			workers: []drover.Worker{wk("a", 4000, 8*G, 8, wlabels("zone", "eu")), wk("b", 4000, 8*G, 8, wlabels("zone", "eu"))},
			want:    []Assignment{{"j1", "a"}, {"j2", "a"}, {"j3", "b"}, {"j4", "b"}},
		},
		{
			name: "priority first, then queuedAt, then id, whatever the input order",
			jobs: []drover.Job{
				jb("j5", 100, 1, prio(0), queuedAt(time.Second)),
				jb("j4", 100, 1, prio(0), queuedAt(0)),
				jb("j3", 100, 1, prio(0), queuedAt(0)),
				jb("j2", 100, 1, prio(5), queuedAt(time.Hour)),
				jb("j1", 100, 1, prio(-3), queuedAt(-time.Hour)),
			},
			workers: []drover.Worker{wk("a", 4000, 4*G, 5)},
			want:    []Assignment{{"j2", "a"}, {"j3", "a"}, {"j4", "a"}, {"j5", "a"}, {"j1", "a"}},
		},
		{
			name:    "the higher priority job takes the last slot",
			jobs:    []drover.Job{jb("low", 100, 1, prio(1)), jb("high", 100, 1, prio(2))},
			workers: []drover.Worker{wk("a", 4000, 4*G, 1)},
			want:    []Assignment{{"high", "a"}},
			pending: map[string]string{"low": "the only READY worker, a, has no free slot (1 of 1 busy)"},
		},
		{
			name: "without queuedAt, createdAt orders",
			jobs: func() []drover.Job {
				a, b := jb("a", 100, 1), jb("b", 100, 1)
				a.QueuedAt, b.QueuedAt = nil, nil
				a.CreatedAt = t0.Add(time.Minute)
				return []drover.Job{a, b}
			}(),
			workers: []drover.Worker{wk("w", 4000, 4*G, 1)},
			want:    []Assignment{{"b", "w"}},
			pending: map[string]string{"a": "the only READY worker, w, has no free slot (1 of 1 busy)"},
		},
		{
			name: "a job's place in the queue orders before its queuedAt",
			jobs: func() []drover.Job {
				// requeued by the fleet a minute after b was submitted, but
				// submitted before it: it keeps its place
				requeued, b := jb("requeued", 100, 1, queuedAt(time.Minute)), jb("b", 100, 1, queuedAt(time.Second))
				requeued.QueueRank = t0
				return []drover.Job{b, requeued}
			}(),
			workers: []drover.Worker{wk("w", 4000, 4*G, 1)},
			want:    []Assignment{{"requeued", "w"}},
			pending: map[string]string{"b": "the only READY worker, w, has no free slot (1 of 1 busy)"},
		},
		{
			name:    "a job that fits nowhere does not block smaller ones",
			jobs:    []drover.Job{jb("huge", 3000, G, prio(9)), jb("small", 500, G)},
			workers: []drover.Worker{wk("a", 4000, 4*G, 4, used(2000, 0, 1))},
			want:    []Assignment{{"small", "a"}},
			pending: map[string]string{"huge": "needs 3 CPU; the largest free is 1.5 (worker a)"},
		},
		{
			name: "NotBefore in the future waits; at or before now it is placed",
			jobs: []drover.Job{
				jb("later", 100, 1, notBefore(t0.Add(time.Second))),
				jb("now", 100, 1, notBefore(t0)),
				jb("past", 100, 1, notBefore(t0.Add(-time.Second))),
			},
			workers: []drover.Worker{wk("a", 4000, 4*G, 4)},
			want:    []Assignment{{"now", "a"}, {"past", "a"}},
			pending: map[string]string{"later": "waiting to retry until 2026-03-01T12:00:01Z"},
		},
		{
			name: "jobs in other states are ignored",
			jobs: []drover.Job{
				jb("running", 100, 1, jstate(drover.JobRunning)), jb("done", 100, 1, jstate(drover.JobCompleted)),
				jb("bare", 100, 1, jstate("")),
			},
			workers: []drover.Worker{wk("a", 4000, 4*G, 4)},
			want:    []Assignment{{"bare", "a"}},
		},
		{
			name: "draining and down workers take nothing",
			jobs: []drover.Job{jb("j1", 100, 1), jb("j2", 100, 1)},
			workers: []drover.Worker{
				wk("a", 4000, 4*G, 4, wstate(drover.WorkerDraining)), wk("b", 4000, 4*G, 4, wstate(drover.WorkerDown)),
				wk("c", 8000, 8*G, 1),
			},
			want:    []Assignment{{"j1", "c"}},
			pending: map[string]string{"j2": "the only READY worker, c, has no free slot (1 of 1 busy)"},
		},

		// Executors and labels.
		{
			name: "a named executor must be advertised",
			jobs: []drover.Job{jb("j1", 100, 1, executor("docker"))},
			workers: []drover.Worker{
				wk("a", 1000, G, 4), wk("b", 8000, 8*G, 4, executors("process", "docker")),
			},
			want: []Assignment{{"j1", "b"}},
		},
		{
			name: "an empty executor takes any worker with an executor that needs no image",
			jobs: []drover.Job{jb("j1", 100, 1), jb("j2", 100, 1), jb("j3", 100, 1)},
			workers: []drover.Worker{
				wk("a", 1000, G, 1, executors()), wk("b", 8000, 8*G, 1, executors("docker")),
				wk("c", 8000, 8*G, 1, executors("noop")), wk("d", 8000, 8*G, 1, executors("docker", "process")),
			},
			want:    []Assignment{{"j1", "c"}, {"j2", "d"}},
			pending: map[string]string{"j3": "all 2 matching workers have no free slot (2 of 2 slots busy)"},
		},
		{
			name: "constraints are a subset of the worker's labels",
			jobs: []drover.Job{jb("j1", 100, 1, constraints("gpu", "a100", "zone", "eu"))},
			workers: []drover.Worker{
				wk("a", 1000, G, 4, wlabels("gpu", "a100")),
				wk("b", 1000, G, 4, wlabels("gpu", "h100", "zone", "eu")),
				wk("c", 8000, 8*G, 4, wlabels("gpu", "a100", "zone", "eu", "rack", "7")),
			},
			want: []Assignment{{"j1", "c"}},
		},

		// Pending reasons, most informative first.
		{
			name:    "no worker registered",
			jobs:    []drover.Job{jb("j1", 100, 1)},
			pending: map[string]string{"j1": "no worker registered"},
		},
		{
			name: "no READY worker",
			jobs: []drover.Job{jb("j1", 100, 1)},
			workers: []drover.Worker{
				wk("a", 4000, 4*G, 4, wstate(drover.WorkerDraining)), wk("b", 4000, 4*G, 4, wstate(drover.WorkerDown)),
				wk("c", 4000, 4*G, 4, wstate(drover.WorkerDown)),
			},
			pending: map[string]string{"j1": "no READY worker (2 DOWN, 1 DRAINING)"},
		},
		{
			name: "no READY worker has the executor",
			jobs: []drover.Job{jb("j1", 100, 1, executor("docker"))},
			workers: []drover.Worker{
				wk("a", 4000, 4*G, 4), wk("b", 4000, 4*G, 4, executors("docker"), wstate(drover.WorkerDraining)),
			},
			pending: map[string]string{"j1": "no READY worker offers executor docker (b, which does, is DRAINING): an operator must start a worker on a machine whose Docker engine answers (--executor docker)"},
		},
		{
			name:    "no READY worker has any executor",
			jobs:    []drover.Job{jb("j1", 100, 1)},
			workers: []drover.Worker{wk("a", 4000, 4*G, 4, executors())},
			pending: map[string]string{"j1": "no READY worker runs jobs without an image (all are docker-only): give the job an --image, or " + offerProcess},
		},
		{
			name:    "a job without an image never goes to a docker-only worker",
			jobs:    []drover.Job{jb("j1", 100, 1)},
			workers: []drover.Worker{wk("a", 4000, 4*G, 4, executors("docker"))},
			pending: map[string]string{"j1": "no READY worker runs jobs without an image (all are docker-only): give the job an --image, or " + offerProcess},
		},
		{
			name: "a process job waits for the process worker that is DOWN",
			jobs: []drover.Job{jb("j1", 100, 1, executor("process"))},
			workers: []drover.Worker{
				wk("a", 4000, 4*G, 4, executors("docker")), wk("b", 4000, 4*G, 4, named("proc-1"), wstate(drover.WorkerDown)),
			},
			pending: map[string]string{"j1": "no READY worker offers executor process (proc-1, which does, is DOWN): " + offerProcess},
		},
		{
			name: "several that are not READY are named, up to three",
			jobs: []drover.Job{jb("j1", 100, 1, executor("process"))},
			workers: []drover.Worker{
				wk("a", 4000, 4*G, 4, executors("docker")), wk("b", 4000, 4*G, 4, wstate(drover.WorkerDown)),
				wk("c", 4000, 4*G, 4, wstate(drover.WorkerDraining)), wk("d", 4000, 4*G, 4, wstate(drover.WorkerDown)),
				wk("e", 4000, 4*G, 4, wstate(drover.WorkerDown)),
			},
			pending: map[string]string{"j1": "no READY worker offers executor process (those that do are not READY: b DOWN, c DRAINING, d DOWN, 1 more): " + offerProcess},
		},
		{
			name:    "no READY worker has the label",
			jobs:    []drover.Job{jb("j1", 100, 1, constraints("gpu", "a100", "zone", "eu"))},
			workers: []drover.Worker{wk("a", 4000, 4*G, 4, wlabels("gpu", "h100", "zone", "eu"))},
			pending: map[string]string{"j1": "no READY worker has label gpu=a100"},
		},
		{
			name:    "no READY worker gives containers the network",
			jobs:    []drover.Job{jb("j1", 100, 1, executor("docker"), constraints(drover.NetworkLabel, "true"))},
			workers: []drover.Worker{wk("a", 4000, 4*G, 4, executors("docker"))},
			pending: map[string]string{"j1": "no READY worker gives containers the network (start one with --allow-network, or drop --network)"},
		},
		{
			name:    "no READY worker has the labels",
			jobs:    []drover.Job{jb("j1", 100, 1, constraints("gpu", "a100", "zone", "eu"))},
			workers: []drover.Worker{wk("a", 4000, 4*G, 4)},
			pending: map[string]string{"j1": "no READY worker has labels gpu=a100, zone=eu"},
		},
		{
			name: "the label is only on workers without the executor",
			jobs: []drover.Job{jb("j1", 100, 1, executor("docker"), constraints("gpu", "a100"))},
			workers: []drover.Worker{
				wk("a", 4000, 4*G, 4, wlabels("gpu", "a100")), wk("b", 4000, 4*G, 4, executors("docker")),
			},
			pending: map[string]string{"j1": "no READY worker with executor docker has label gpu=a100"},
		},
		{
			name: "every label is somewhere, never all on one worker",
			jobs: []drover.Job{jb("j1", 100, 1, constraints("gpu", "a100", "zone", "eu"))},
			workers: []drover.Worker{
				wk("a", 4000, 4*G, 4, wlabels("gpu", "a100")), wk("b", 4000, 4*G, 4, wlabels("zone", "eu")),
			},
			pending: map[string]string{"j1": "no READY worker has all of the labels gpu=a100, zone=eu"},
		},
		{
			name:    "a label mismatch is named before resources",
			jobs:    []drover.Job{jb("j1", 64000, 64*G, constraints("gpu", "a100"))},
			workers: []drover.Worker{wk("a", 4000, 4*G, 4, used(4000, 4*G, 4))},
			pending: map[string]string{"j1": "no READY worker has label gpu=a100"},
		},
		{
			name:    "no matching worker is big enough even idle",
			jobs:    []drover.Job{jb("j1", 64000, 512)},
			workers: []drover.Worker{wk("w1", 2000, 24064, 4, used(2000, 0, 4)), wk("w2", 1000, 48*G, 4)},
			pending: map[string]string{"j1": "needs 64 CPU and 512M memory; the largest READY worker, w1, has 2 CPU and 23.5G memory"},
		},
		{
			name: "capacity is judged among matching workers",
			jobs: []drover.Job{jb("j1", 4000, G, executor("docker"))},
			workers: []drover.Worker{
				wk("a", 2000, 4*G, 4, executors("docker")), wk("b", 64000, 64*G, 4),
			},
			pending: map[string]string{"j1": "needs 4 CPU and 1G memory; the largest matching worker, a, has 2 CPU and 4G memory"},
		},
		{
			name:    "every slot is busy",
			jobs:    []drover.Job{jb("j1", 100, 1), jb("j2", 100, 1, queuedAt(1))},
			workers: []drover.Worker{wk("a", 4000, 4*G, 1, used(100, 1, 1)), wk("b", 4000, 4*G, 2, used(0, 0, 1))},
			want:    []Assignment{{"j1", "b"}},
			pending: map[string]string{"j2": "all 2 READY workers have no free slot (3 of 3 slots busy)"},
		},
		{
			name: "every matching slot is busy",
			jobs: []drover.Job{jb("j1", 100, 1, constraints("zone", "eu"))},
			workers: []drover.Worker{
				wk("a", 4000, 4*G, 1, wlabels("zone", "eu"), used(0, 0, 1)),
				wk("b", 4000, 4*G, 1, wlabels("zone", "eu"), used(0, 0, 1)),
				wk("c", 4000, 4*G, 8),
			},
			pending: map[string]string{"j1": "all 2 matching workers have no free slot (2 of 2 slots busy)"},
		},
		{
			name:    "not enough free CPU",
			jobs:    []drover.Job{jb("j1", 8000, G)},
			workers: []drover.Worker{wk("w1", 16000, 4*G, 4, used(14000, 0, 1)), wk("w2", 16000, 4*G, 4, used(15000, 0, 1))},
			pending: map[string]string{"j1": "needs 8 CPU; the largest free is 2 (worker w1)"},
		},
		{
			name:    "not enough free memory",
			jobs:    []drover.Job{jb("j1", 100, 4*G)},
			workers: []drover.Worker{wk("w1", 4000, 8*G, 4, used(0, 7*G, 1)), wk("w2", 4000, 8*G, 4, used(0, 7*G, 1))},
			pending: map[string]string{"j1": "needs 4G memory; the largest free is 1G (worker w1)"},
		},
		{
			name:    "not enough of either",
			jobs:    []drover.Job{jb("j1", 1500, 4*G)},
			workers: []drover.Worker{wk("w1", 4000, 8*G, 4, used(3500, 6*G, 1)), wk("w2", 4000, 8*G, 4, used(3000, 7*G, 1))},
			pending: map[string]string{"j1": "needs 1.5 CPU and 4G memory; the largest free is 1 CPU (worker w2) and 2G memory (worker w1)"},
		},
		{
			name:    "each resource is free somewhere, never both together",
			jobs:    []drover.Job{jb("j1", 2000, 4*G)},
			workers: []drover.Worker{wk("w1", 4000, 8*G, 4, used(1000, 7*G, 1)), wk("w2", 4000, 8*G, 4, used(3500, 0, 1))},
			pending: map[string]string{"j1": "needs 2 CPU and 4G memory; no READY worker has both free: the most CPU is 3 on w1 (with 1G memory), the most memory 8G on w2 (with 500m CPU)"},
		},
		{
			name:    "busy workers do not count as the largest free",
			jobs:    []drover.Job{jb("j1", 2000, G)},
			workers: []drover.Worker{wk("idle", 8000, 8*G, 1, used(0, 0, 1)), wk("open", 4000, 8*G, 4, used(3000, 0, 1))},
			pending: map[string]string{"j1": "needs 2 CPU; the largest free is 1 (worker open)"},
		},
		{
			name:    "an over-allocated worker shows nothing free",
			jobs:    []drover.Job{jb("j1", 1000, G)},
			workers: []drover.Worker{wk("w1", 4000, 8*G, 4, used(5000, 0, 1))},
			pending: map[string]string{"j1": "needs 1 CPU; the largest free is 0 (worker w1)"},
		},
		{
			name:    "workers are named by name when they have one",
			jobs:    []drover.Job{jb("j1", 8000, G)},
			workers: []drover.Worker{wk("wrk_01", 16000, 4*G, 4, used(14000, 0, 1), named("build-3"))},
			pending: map[string]string{"j1": "needs 8 CPU; the largest free is 2 (worker build-3)"},
		},
		{
			name:    "reasons describe the workers as the pass leaves them",
			jobs:    []drover.Job{jb("first", 3000, G, prio(1)), jb("big", 3000, G)},
			workers: []drover.Worker{wk("a", 4000, 8*G, 4)},
			want:    []Assignment{{"first", "a"}},
			pending: map[string]string{"big": "needs 3 CPU; the largest free is 1 (worker a)"},
		},
		{
			name: "once every slot is taken, the rest still get their own reason",
			jobs: []drover.Job{
				jb("j1", 100, 1, queuedAt(1)), jb("j2", 100, 1, queuedAt(2)), jb("j3", 100, 1, queuedAt(3)),
				jb("gpu", 100, 1, queuedAt(4), constraints("gpu", "a100")),
				jb("docker", 100, 1, queuedAt(5), executor("docker")),
				jb("later", 100, 1, queuedAt(6), notBefore(t0.Add(time.Minute))),
			},
			workers: []drover.Worker{wk("a", 4000, 4*G, 1), wk("b", 4000, 4*G, 1)},
			want:    []Assignment{{"j1", "a"}, {"j2", "b"}},
			pending: map[string]string{
				"j3":     busy,
				"gpu":    "no READY worker has label gpu=a100",
				"docker": "no READY worker offers executor docker: an operator must start a worker on a machine whose Docker engine answers (--executor docker)",
				"later":  "waiting to retry until 2026-03-01T12:01:00Z",
			},
		},
		{
			// The best fit for j1 is small, where it could not run: it
			// goes to big. j2 failed on the only docker worker: no other
			// would do, so it goes back there.
			name: "a job that could not run on a worker goes to another if one would do",
			jobs: []drover.Job{jb("j1", 1000, G, failedOn("small")), jb("j2", 100, 1, queuedAt(1), executor("docker"), failedOn("d"))},
			workers: []drover.Worker{wk("big", 8000, 16*G, 4), wk("small", 2000, 2*G, 4),
				wk("d", 4000, 4*G, 1, executors("docker"))},
			want: []Assignment{{"j1", "big"}, {"j2", "d"}},
		},
		{
			// It waits for the other worker rather than going back.
			name:    "a job that could not run on a worker waits for another",
			jobs:    []drover.Job{jb("j1", 1000, G, failedOn("a"))},
			workers: []drover.Worker{wk("a", 4000, 4*G, 4), wk("b", 4000, 4*G, 1, used(0, 0, 1))},
			pending: map[string]string{"j1": "the only matching worker, b, has no free slot (1 of 1 busy); not on a, where it could not run"},
		},
		{
			// Not back to b after a either: c was never tried.
			name:    "a job keeps away from every worker where it could not run",
			jobs:    []drover.Job{jb("j1", 1000, G, failedOn("b", "a"))},
			workers: []drover.Worker{wk("a", 4000, 4*G, 4), wk("b", 4000, 4*G, 4), wk("c", 8000, 8*G, 4)},
			want:    []Assignment{{"j1", "c"}},
		},
		{
			name:    "a job that could not run anywhere that could hold it tries them again",
			jobs:    []drover.Job{jb("j1", 3000, G, failedOn("b", "a"))},
			workers: []drover.Worker{wk("a", 4000, 4*G, 4), wk("b", 4000, 4*G, 4, used(0, 0, 1)), wk("c", 2000, 8*G, 4)},
			want:    []Assignment{{"j1", "a"}},
		},
		{
			// small could run it but never hold it: back to big, not a
			// wait for ever.
			name:    "a job that could not run on a worker goes back to it if no other could hold it",
			jobs:    []drover.Job{jb("j1", 4000, G, failedOn("big"))},
			workers: []drover.Worker{wk("big", 8000, 16*G, 4), wk("small", 1000, 2*G, 4)},
			want:    []Assignment{{"j1", "big"}},
		},
		{
			// Only executor_error keeps a job away; its own failure does not.
			name:    "a job that failed on its own may run on the same worker again",
			jobs:    []drover.Job{jb("j1", 1000, G, func(j *drover.Job) { j.WorkerID, j.Reason = "a", drover.ReasonExitCode })},
			workers: []drover.Worker{wk("a", 4000, 4*G, 4), wk("b", 4000, 4*G, 1, used(0, 0, 1))},
			want:    []Assignment{{"j1", "a"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := tt.now
			if now.IsZero() {
				now = t0
			}
			jobs := slices.Clone(tt.jobs)
			workers := slices.Clone(tt.workers)
			got := Place(now, jobs, workers)
			if !slices.Equal(got.Assignments, tt.want) {
				t.Errorf("assignments\n got %v\nwant %v", got.Assignments, tt.want)
			}
			if !maps.Equal(got.Pending, tt.pending) && len(got.Pending)+len(tt.pending) > 0 {
				for id, r := range got.Pending {
					if r != tt.pending[id] {
						t.Errorf("pending %s\n got %q\nwant %q", id, r, tt.pending[id])
					}
				}
				for id, r := range tt.pending {
					if _, ok := got.Pending[id]; !ok {
						t.Errorf("pending %s missing, want %q", id, r)
					}
				}
			}
			if !slices.EqualFunc(jobs, tt.jobs, func(a, b drover.Job) bool { return a.ID == b.ID }) ||
				!slices.EqualFunc(workers, tt.workers, func(a, b drover.Worker) bool { return a.ID == b.ID && a.Allocated == b.Allocated }) {
				t.Error("Place modified its input")
			}
		})
	}
}

func TestPlaceReturnsEmptyPendingMap(t *testing.T) {
	got := Place(t0, nil, nil)
	if got.Pending == nil || len(got.Pending) != 0 || len(got.Assignments) != 0 {
		t.Fatalf("Place(nil, nil) = %+v, want no assignments and an empty map", got)
	}
}
