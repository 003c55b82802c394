package coordinator

import (
	"testing"
	"time"

	"github.com/drover-dev/drover"
)

func TestFreeSlots(t *testing.T) {
	worker := func(st drover.WorkerState, slots, allocated int) drover.Worker {
		return drover.Worker{State: st, Capacity: drover.Capacity{Slots: slots}, Allocated: drover.Allocated{Slots: allocated}}
	}
	for _, tc := range []struct {
		name    string
		workers []drover.Worker
		want    int
	}{
		{"no workers", nil, 0},
		{"ready workers add up", []drover.Worker{worker(drover.WorkerReady, 4, 1), worker(drover.WorkerReady, 2, 0)}, 5},
		{"draining and down workers take no work", []drover.Worker{worker(drover.WorkerDraining, 4, 0), worker(drover.WorkerDown, 4, 0), worker(drover.WorkerReady, 1, 0)}, 1},
		{"an over-allocated worker counts as full", []drover.Worker{worker(drover.WorkerReady, 2, 3), worker(drover.WorkerReady, 2, 1)}, 1},
	} {
		if got := freeSlots(tc.workers); got != tc.want {
			t.Errorf("%s: freeSlots = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestNextRetry(t *testing.T) {
	now := time.Date(2031, time.March, 14, 15, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	job := func(nb *time.Time) drover.Job { return drover.Job{NotBefore: nb} }
	for _, tc := range []struct {
		name string
		jobs []drover.Job
		want time.Time
	}{
		{"none", []drover.Job{job(nil)}, time.Time{}},
		{"past backoffs are over", []drover.Job{job(at(-time.Second)), job(at(0))}, time.Time{}},
		{"the earliest future one", []drover.Job{job(at(time.Minute)), job(nil), job(at(time.Second)), job(at(-time.Hour))}, *at(time.Second)},
	} {
		if got := nextRetry(tc.jobs, now); !got.Equal(tc.want) {
			t.Errorf("%s: nextRetry = %v, want %v", tc.name, got, tc.want)
		}
	}
}
