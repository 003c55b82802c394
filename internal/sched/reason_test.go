package sched

import (
	"testing"

	"github.com/drover-dev/drover"
)

func TestUnschedulable(t *testing.T) {
	const G = 1024
	spec := func(cpu, mem int64) drover.JobSpec {
		return drover.JobSpec{Resources: drover.Resources{CPU: cpu, MemoryMB: mem}}
	}
	tests := []struct {
		name    string
		spec    drover.JobSpec
		workers []drover.Worker
		// wantField is the field at fault: "resources" unless said, when
		// there is a message.
		wantField, want string
	}{
		{
			name: "no workers: the job waits",
			spec: spec(64000, 512),
		},
		{
			name:    "a worker that fits, even busy and down",
			spec:    spec(4000, 4*G),
			workers: []drover.Worker{wk("a", 2000, 64*G, 4), wk("b", 4000, 4*G, 1, used(4000, 4*G, 1), wstate(drover.WorkerDown))},
		},
		{
			name:    "labels and slots do not matter",
			spec:    drover.JobSpec{Executor: "docker", Constraints: map[string]string{"gpu": "a100"}, Resources: drover.Resources{CPU: 1000, MemoryMB: G}},
			workers: []drover.Worker{wk("a", 2000, 2*G, 0, executors("docker"))},
		},
		{
			name:      "no worker offers the executor, even down",
			spec:      drover.JobSpec{Executor: "process", Resources: drover.Resources{CPU: 100, MemoryMB: 128}},
			workers:   []drover.Worker{wk("a", 2000, 2*G, 4, executors("docker")), wk("b", 2000, 2*G, 4, executors("docker"), wstate(drover.WorkerDown))},
			wantField: "executor",
			want:      "no registered worker offers executor process: an operator must start a worker with --executor process (or docker,process); process jobs are not isolated, so workers offer them only when told",
		},
		{
			name:    "a worker offering the executor counts however it is",
			spec:    drover.JobSpec{Executor: "process", Resources: drover.Resources{CPU: 100, MemoryMB: 128}},
			workers: []drover.Worker{wk("a", 2000, 2*G, 4, executors("docker")), wk("b", 2000, 2*G, 4, wstate(drover.WorkerDraining))},
		},
		{
			name:      "a job without an image on docker-only workers",
			spec:      spec(100, 128),
			workers:   []drover.Worker{wk("a", 2000, 2*G, 4, executors("docker"))},
			wantField: "image",
			want:      "no registered worker runs jobs without an image (all are docker-only): give the job an --image",
		},
		{
			name:      "no docker worker",
			spec:      drover.JobSpec{Executor: "docker", Image: "busybox", Resources: drover.Resources{CPU: 100, MemoryMB: 128}},
			workers:   []drover.Worker{wk("a", 2000, 2*G, 4)},
			wantField: "executor",
			want:      "no registered worker offers executor docker: an operator must start a worker on a machine whose Docker engine answers (--executor docker)",
		},
		{
			name:      "only workers with the executor are measured",
			spec:      drover.JobSpec{Executor: "docker", Image: "busybox", Resources: drover.Resources{CPU: 8000, MemoryMB: G}},
			workers:   []drover.Worker{wk("big", 64000, 64*G, 4), wk("small", 4000, 4*G, 4, executors("docker", "process"))},
			wantField: "resources",
			want:      "needs 8 CPU and 1G memory; the largest worker with executor docker, small, has 4 CPU and 4G memory",
		},
		{
			name:    "too much CPU names the worker with the most",
			spec:    spec(64000, 512),
			workers: []drover.Worker{wk("w2", 1000, 48*G, 4), wk("w1", 2000, 24064, 4)},
			want:    "needs 64 CPU and 512M memory; the largest worker, w1, has 2 CPU and 23.5G memory",
		},
		{
			name:    "too much memory names the worker with the most",
			spec:    spec(500, 64*G),
			workers: []drover.Worker{wk("a", 1000, 48*G, 4), wk("b", 64000, 8*G, 4)},
			want:    "needs 500m CPU and 64G memory; the largest worker, a, has 1 CPU and 48G memory",
		},
		{
			// a holds 3/4 of the CPU and 1/4 of the memory, b 1/2 of each:
			// b comes closest.
			name:    "each resource on some worker, never both",
			spec:    spec(8000, 8*G),
			workers: []drover.Worker{wk("a", 6000, 2*G, 4), wk("b", 4000, 4*G, 4), wk("c", 1000, 64*G, 4)},
			want:    "needs 8 CPU and 8G memory; the largest worker, b, has 4 CPU and 4G memory",
		},
		{
			name:    "a tie names the smaller id",
			spec:    spec(8000, G),
			workers: []drover.Worker{wk("b", 4000, 4*G, 4), wk("a", 4000, 4*G, 4)},
			want:    "needs 8 CPU and 1G memory; the largest worker, a, has 4 CPU and 4G memory",
		},
		{
			name:    "the worker's name when it has one",
			spec:    spec(8000, G),
			workers: []drover.Worker{wk("wrk_1", 4000, 4*G, 4, named("build-1"))},
			want:    "needs 8 CPU and 1G memory; the largest worker, build-1, has 4 CPU and 4G memory",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantField := tt.wantField
			if wantField == "" && tt.want != "" {
				wantField = "resources"
			}
			if field, got := Unschedulable(tt.spec, tt.workers); got != tt.want || field != wantField {
				t.Errorf("Unschedulable\n got %s: %q\nwant %s: %q", field, got, wantField, tt.want)
			}
		})
	}
}
