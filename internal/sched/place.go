package sched

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/drover-dev/drover"
)

// Place decides one scheduling pass. It puts each QUEUED job on the
// feasible READY worker it fits best. A zero State counts as queued. Jobs
// in other states are ignored.
//
// It takes the jobs in queue order, whatever the input order. That is by
// priority descending, then by place in the queue, then by id. The place
// is QueueRank, or queuedAt when that is unset, else createdAt.
//
// A worker is feasible for a job when it has:
//
//   - enough free CPU and memory, and a free slot
//   - every constraint label of the job, with its value
//   - the job's executor, when it names one; otherwise any executor
//
// The best fit leaves the smallest free share after placement. The share
// is freeCPU/capacityCPU + freeMemory/capacityMemory. Ties go to the
// worker with fewer active attempts, then to the smaller worker id.
//
// Each placement reduces the worker's free resources before the next job.
// A job that fits nowhere is skipped, so it never blocks smaller jobs
// behind it. It gets a reason in Result.Pending. So does a job whose
// NotBefore is after now.
//
// Place never modifies jobs or workers. A pass costs O(J) to build the
// queue. Each job taken in order then costs O(log J) and one scan of the
// workers that match its executor and labels. A job's shape is its
// resources, executor and labels. A job of the shape just placed usually
// needs no scan. One whose shape already failed in the pass costs a map
// lookup. Once no READY worker has a free slot, the rest of the queue is
// only classified, in no order.
func Place(now time.Time, jobs []drover.Job, workers []drover.Worker) Result {
	p := newPass(workers)
	q := newQueue(jobs)
	placeable := min(q.n, p.slots)
	res := Result{
		Assignments: make([]Assignment, 0, placeable),
		Pending:     make(map[string]string, q.n-placeable),
	}
	// seen[i] is 0 until jobs[i] is considered, then 1 + its shape if it
	// failed to fit, else -1.
	seen := make([]int32, len(jobs))
	consider := func(i int32) {
		j := &jobs[i]
		seen[i] = -1
		if j.NotBefore != nil && j.NotBefore.After(now) {
			res.Pending[j.ID] = "waiting to retry until " + j.NotBefore.UTC().Format(time.RFC3339)
			return
		}
		s := p.shapeOf(&j.Spec, p.avoiding(j))
		if n := p.place(s); n >= 0 {
			res.Assignments = append(res.Assignments, Assignment{JobID: j.ID, WorkerID: workers[p.nodes[n].w].ID})
			return
		}
		seen[i] = 1 + s
	}
	for q.n > 0 && p.slots > 0 {
		consider(q.take())
	}
	// No slot is left, so nothing more can be placed and order does not
	// matter. The rest of the queue is classified in input order, which
	// reads memory in sequence.
	if q.n > 0 {
		for i := range jobs {
			if seen[i] == 0 && queued(&jobs[i]) {
				consider(int32(i))
			}
		}
	}
	// Reasons are written once the pass is over, against the workers as
	// the pass leaves them. Free resources only shrink during a pass, so a
	// shape that failed early still fails at the end. The reason then
	// describes the state the job actually waits in. Each shape's reason is
	// built once.
	for i, s := range seen {
		if s > 0 {
			res.Pending[jobs[i].ID] = p.reason(s - 1)
		}
	}
	return res
}

// pass is the state of one Place call.
type pass struct {
	workers []drover.Worker
	nodes   []node // READY workers in id order, so scans meet ties in id order
	slots   int    // free slots left on all READY workers

	// used marks the nodes that took a job in this pass; open lists those
	// of them that may still have a free slot (see class).
	used []bool
	open []int32

	groups   []group
	groupIdx map[string]int32 // by groupKey
	shapes   []shape
	shapeIdx map[shapeKey]int32

	// recent caches the shapes of the last few specs without constraints,
	// replaced in turn. Most queues hold a handful of shapes. Comparing a
	// few entries costs less than hashing two map keys per job.
	recent     [8]recentShape
	nRecent    int
	nextRecent int

	// last is the most recent placement and how its scan ranked the rest.
	last  lastPlacement
	key   []byte   // scratch for groupKey
	names []string // scratch for sorting constraint names
}

// shape is what placement looks at in a job: its group and its request.
type shape struct {
	shapeKey
	failed bool   // it did not fit earlier in this pass, so it will not now
	reason string // built on first need
}

type recentShape struct {
	executor string
	cpu, mem int64
	shape    int32
}

type shapeKey struct {
	group    int32
	cpu, mem int64
}

// lastPlacement remembers the scan behind the latest placement.
//
// A placement changes only the node it goes to. The next job of the same
// shape, with no other placement in between, thus needs no new scan. It
// goes to the same node if that node still fits and still ranks before the
// runner-up of the scan, which has not changed. Otherwise a scan decides.
// A placement leaves its node a tighter fit. Runs of identical jobs, as a
// batch submission makes, thus cost O(1) each.
type lastPlacement struct {
	valid   bool
	shape   int32
	best    int32
	runner  int32 // -1 when the scan found a single feasible node
	runnerS uint64
}

func newPass(workers []drover.Worker) *pass {
	p := &pass{
		workers:  workers,
		groupIdx: make(map[string]int32),
		shapeIdx: make(map[shapeKey]int32),
	}
	ready := 0
	for i := range workers {
		if workers[i].State == drover.WorkerReady {
			ready++
		}
	}
	p.nodes = make([]node, 0, ready)
	p.used = make([]bool, ready)
	for i := range workers {
		w := &workers[i]
		if w.State != drover.WorkerReady {
			continue
		}
		n := newNode(i, w)
		p.nodes = append(p.nodes, n)
		p.slots += max(n.freeSlots, 0)
	}
	slices.SortFunc(p.nodes, func(a, b node) int {
		return cmp.Or(strings.Compare(workers[a.w].ID, workers[b.w].ID), cmp.Compare(a.w, b.w))
	})
	return p
}

// shapeOf returns the index of spec's shape, creating it and its group on
// first sight. It allocates only then.
func (p *pass) shapeOf(spec *drover.JobSpec, avoid []string) int32 {
	cpu, mem := spec.Resources.CPU, spec.Resources.MemoryMB
	plain := len(spec.Constraints) == 0 && len(avoid) == 0
	if plain {
		for i := range p.nRecent {
			if r := &p.recent[i]; r.cpu == cpu && r.mem == mem && r.executor == spec.Executor {
				return r.shape
			}
		}
	}
	k := shapeKey{group: p.groupOf(spec, avoid), cpu: cpu, mem: mem}
	s, ok := p.shapeIdx[k]
	if !ok {
		s = int32(len(p.shapes))
		p.shapes = append(p.shapes, shape{shapeKey: k})
		p.shapeIdx[k] = s
	}
	if plain {
		p.recent[p.nextRecent] = recentShape{executor: spec.Executor, cpu: cpu, mem: mem, shape: s}
		p.nextRecent = (p.nextRecent + 1) % len(p.recent)
		p.nRecent = max(p.nRecent, p.nextRecent)
	}
	return s
}

// place puts one job of shape s on a node and returns the node, or -1.
func (p *pass) place(s int32) int32 {
	sh := &p.shapes[s]
	if sh.failed {
		return -1
	}
	g := &p.groups[sh.group]
	if p.slots == 0 || g.exhausted || sh.cpu > g.maxCPU || sh.mem > g.maxMem {
		sh.failed = true
		return -1
	}
	n := int32(-1)
	if p.last.valid && p.last.shape == s {
		n = p.repeat(sh)
	}
	if n < 0 {
		if n = p.scan(g, s); n < 0 {
			sh.failed = true
			return -1
		}
	}
	nd := &p.nodes[n]
	if !p.used[n] {
		p.used[n] = true
		p.open = append(p.open, n)
	}
	nd.freeCPU -= sh.cpu
	nd.freeMem -= sh.mem
	nd.freeSlots--
	nd.active++
	p.slots--
	return n
}

// repeat returns the node of the last placement if the same shape is best
// there again (see lastPlacement), else -1.
func (p *pass) repeat(sh *shape) int32 {
	b := p.last.best
	nd := &p.nodes[b]
	if !nd.fits(sh.cpu, sh.mem) {
		return -1
	}
	if r := p.last.runner; r >= 0 && !p.before(b, nd.score(sh.cpu, sh.mem), r, p.last.runnerS) {
		return -1
	}
	return b
}

// scan finds the best node of group g for shape s, or -1, and refreshes the
// group's bounds on the way. It looks at the first unused node of each class
// and at the used nodes with a free slot. It does not allocate.
func (p *pass) scan(g *group, s int32) int32 {
	cpu, mem := p.shapes[s].cpu, p.shapes[s].mem
	best, runner := int32(-1), int32(-1)
	var bestS, runnerS uint64
	maxCPU, maxMem := int64(math.MinInt64), int64(math.MinInt64)
	// rank places feasible node i among the best two so far and reports
	// whether it became the best.
	rank := func(i int32) bool {
		sc := p.nodes[i].score(cpu, mem)
		switch {
		case best < 0 || p.before(i, sc, best, bestS):
			runner, runnerS = best, bestS
			best, bestS = i, sc
			return true
		case runner < 0 || p.before(i, sc, runner, runnerS):
			runner, runnerS = i, sc
		}
		return false
	}
	bestClass := -1 // the class the best node came from, if any
	for k := 0; k < len(g.classes); {
		c := &g.classes[k]
		if c.next = c.first(p.used, c.next); c.next < 0 {
			// Every node of the class is used: drop it. The order of
			// classes does not matter; ties are broken by node index.
			g.classes[k] = g.classes[len(g.classes)-1]
			g.classes = g.classes[:len(g.classes)-1]
			continue
		}
		i := c.nodes[c.next]
		nd := &p.nodes[i]
		maxCPU, maxMem = max(maxCPU, nd.freeCPU), max(maxMem, nd.freeMem)
		if nd.freeCPU >= cpu && nd.freeMem >= mem && rank(i) {
			bestClass = k
		}
		k++
	}
	if bestClass >= 0 {
		// The runner-up may be the best node's twin in its class.
		c := &g.classes[bestClass]
		if k := c.first(p.used, c.next+1); k >= 0 {
			rank(c.nodes[k])
		}
	}
	open := p.open[:0]
	for _, i := range p.open {
		nd := &p.nodes[i]
		if nd.freeSlots <= 0 {
			continue // full for the rest of the pass
		}
		open = append(open, i)
		if !g.member[i] {
			continue
		}
		maxCPU, maxMem = max(maxCPU, nd.freeCPU), max(maxMem, nd.freeMem)
		if nd.freeCPU >= cpu && nd.freeMem >= mem {
			rank(i)
		}
	}
	p.open = open
	g.maxCPU, g.maxMem, g.exhausted = maxCPU, maxMem, maxCPU == math.MinInt64
	if best >= 0 {
		p.last = lastPlacement{valid: true, shape: s, best: best, runner: runner, runnerS: runnerS}
	}
	return best
}

// before reports whether node a with score sa is a better fit than node b
// with score sb. A smaller free share wins, then fewer active attempts,
// then the smaller worker id. Nodes are in id order.
func (p *pass) before(a int32, sa uint64, b int32, sb uint64) bool {
	na, nb := &p.nodes[a], &p.nodes[b]
	if c := fracCmp(sa, na.den, sb, nb.den); c != 0 {
		return c < 0
	}
	if na.active != nb.active {
		return na.active < nb.active
	}
	return a < b
}

// avoiding are the workers a queued job keeps away from. On those an
// attempt could not run it and ended with executor_error. The image could
// not be had, say, or the engine was broken or the disk full. Such a
// worker would otherwise take the job again at once, having room, and use
// up its fleet retries.
//
// The job keeps away from all of them while another READY worker could
// ever hold it. That worker needs the job's executor and labels, and the
// capacity for its request. Once no such worker is left the job avoids
// none, or it would wait for ever. Other failures say nothing against a
// worker. A lost worker is not READY, and an exit code is the job's own.
func (p *pass) avoiding(j *drover.Job) []string {
	if len(j.AvoidWorkers) == 0 {
		return nil
	}
	var labels []label
	for k, v := range j.Spec.Constraints {
		labels = append(labels, label{k, v})
	}
	cpu, mem := j.Spec.Resources.CPU, j.Spec.Resources.MemoryMB
	for i := range p.nodes {
		w := &p.workers[p.nodes[i].w]
		if !slices.Contains(j.AvoidWorkers, w.ID) && w.Capacity.CPU >= cpu && w.Capacity.MemoryMB >= mem && matches(w, j.Spec.Executor, labels) {
			return j.AvoidWorkers
		}
	}
	return nil
}
