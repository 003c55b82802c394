package sched

import (
	"cmp"
	"strings"

	"github.com/drover-dev/drover"
)

// queue yields queued jobs in the order a pass takes them. That is by
// priority descending, then by the job's place in the queue, then by id.
// The place is QueueRank, else queuedAt, else createdAt.
//
// It is a binary heap rather than a sorted slice. A pass usually stops
// placing long before the end of the queue. Once no READY worker has a
// free slot, the rest of the queue needs a reason but no order. Building
// the heap is O(n), and each job taken in order costs O(log n). A pass
// over a deep queue and a few free slots thus sorts only what it takes.
//
// Entries carry no pointers, so moving them costs no write barriers. Ids
// are read from the jobs only to break ties.
type queue struct {
	jobs []drover.Job
	all  []entry // the heap is all[:n]
	n    int
}

// entry is a job's place in the queue.
type entry struct {
	sec      int64 // the job's place: see newQueue
	priority int64
	nsec     int32
	idx      int32 // in queue.jobs
}

// newQueue returns the QUEUED jobs of jobs (a zero State counts as queued),
// ready to be taken in order. It allocates once.
func newQueue(jobs []drover.Job) *queue {
	q := &queue{jobs: jobs, all: make([]entry, 0, len(jobs))}
	for i := range jobs {
		j := &jobs[i]
		if !queued(j) {
			continue
		}
		t := j.CreatedAt
		switch {
		case !j.QueueRank.IsZero():
			t = j.QueueRank
		case j.QueuedAt != nil:
			t = *j.QueuedAt
		}
		q.all = append(q.all, entry{
			sec:      t.Unix(),
			priority: int64(j.Spec.Priority),
			nsec:     int32(t.Nanosecond()),
			idx:      int32(i),
		})
	}
	q.n = len(q.all)
	for i := q.n/2 - 1; i >= 0; i-- {
		q.down(i)
	}
	return q
}

// take removes the first job in queue order and returns its index in the
// jobs. It panics on an empty queue.
func (q *queue) take() int32 {
	q.n--
	q.all[0], q.all[q.n] = q.all[q.n], q.all[0]
	q.down(0)
	return q.all[q.n].idx
}

// queued reports whether j waits to be placed: QUEUED, or a zero State so
// callers and tests may pass bare jobs.
func queued(j *drover.Job) bool { return j.State == drover.JobQueued || j.State == "" }

func (q *queue) less(a, b *entry) bool {
	if a.priority != b.priority {
		return a.priority > b.priority
	}
	if c := cmp.Or(cmp.Compare(a.sec, b.sec), cmp.Compare(a.nsec, b.nsec)); c != 0 {
		return c < 0
	}
	return strings.Compare(q.jobs[a.idx].ID, q.jobs[b.idx].ID) < 0
}

func (q *queue) down(i int) {
	h := q.all[:q.n]
	for {
		c := 2*i + 1
		if c >= len(h) {
			return
		}
		if r := c + 1; r < len(h) && q.less(&h[r], &h[c]) {
			c = r
		}
		if !q.less(&h[c], &h[i]) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}
