package sched

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/drover-dev/drover"
)

// Pending reasons answer "why is my job pending?". When several apply, the
// one the user can do least about by waiting comes first:
//
//   - no worker at all
//   - no worker with the executor or the labels
//   - no worker big enough even when idle
//   - no free slot
//   - not enough free CPU or memory
//
// The last two pass with time. Workers are named by name, or by id when
// they have none.

// Unschedulable says why no worker in workers — every registered worker,
// whatever its state — could ever run spec, and names the spec field at
// fault. It returns "" when some worker could, and when there are no
// workers (the job waits for one).
//
//   - "executor" (or "image" for a job without one): no worker offers the
//     executor the job needs. Executors are the operator's choice, so the
//     message says which worker the operator must start.
//   - "resources": no worker that offers the executor has the capacity for
//     spec's CPU and memory request, even idle. The message names the worker
//     that comes closest, e.g. "needs 64 CPU and 512M memory; the largest
//     worker, w1, has 2 CPU and 23.5G memory".
//
// Labels and slots are not considered: workers with other labels may still
// register, and slots free up.
func Unschedulable(spec drover.JobSpec, workers []drover.Worker) (field, msg string) {
	cpu, mem := spec.Resources.CPU, spec.Resources.MemoryMB
	best, offered := -1, 0
	for i := range workers {
		if !hasExecutor(&workers[i], spec.Executor) {
			continue
		}
		offered++
		c := &workers[i].Capacity
		if c.CPU >= cpu && c.MemoryMB >= mem {
			return "", ""
		}
		if best < 0 || closer(cpu, mem, &workers[i], &workers[best]) {
			best = i
		}
	}
	switch {
	case len(workers) == 0:
		return "", ""
	case offered == 0 && spec.Executor == "":
		return "image", "no registered worker runs jobs without an image (all are docker-only): give the job an --image"
	case offered == 0:
		return "executor", "no registered worker offers executor " + spec.Executor + ": " + howToOffer(spec.Executor)
	}
	largest := "largest worker"
	switch {
	case offered == len(workers):
	case spec.Executor == "":
		largest = "largest worker that runs jobs without an image"
	default:
		largest = "largest worker with executor " + spec.Executor
	}
	return "resources", tooSmall(cpu, mem, largest, &workers[best])
}

// howToOffer says what makes a worker offer executor: a worker offers only
// the executors its operator lists in --executor.
func howToOffer(executor string) string {
	switch executor {
	case drover.ExecutorDocker:
		return "an operator must start a worker on a machine whose Docker engine answers (--executor docker)"
	case drover.ExecutorProcess:
		return "an operator must start a worker with --executor process (or docker,process); process jobs are not isolated, so workers offer them only when told"
	}
	return "an operator must start a worker with --executor " + executor
}

// closer reports whether a comes closer than b to holding cpu and mem: the
// larger of the smaller of capacity/request over the two resources, then the
// smaller id. This names the worker a user would grow or swap.
func closer(cpu, mem int64, a, b *drover.Worker) bool {
	an, ad := headroom(cpu, mem, &a.Capacity)
	bn, bd := headroom(cpu, mem, &b.Capacity)
	if c := fracCmp(an, ad, bn, bd); c != 0 {
		return c > 0
	}
	return a.ID < b.ID
}

// headroom is min(capacity/request) over CPU and memory as a fraction; a
// request of zero or less does not limit it.
func headroom(cpu, mem int64, c *drover.Capacity) (num, den uint64) {
	num, den = 1, 0 // +Inf
	if cpu > 0 {
		num, den = uint64(max(c.CPU, 0)), uint64(cpu)
	}
	if mem > 0 {
		if n, d := uint64(max(c.MemoryMB, 0)), uint64(mem); fracCmp(n, d, num, den) < 0 {
			num, den = n, d
		}
	}
	return num, den
}

func tooSmall(cpu, mem int64, largest string, w *drover.Worker) string {
	return fmt.Sprintf("needs %s CPU and %s memory; the %s, %s, has %s CPU and %s memory",
		drover.FormatCPU(cpu), drover.FormatMemory(mem), largest, workerName(w),
		drover.FormatCPU(w.Capacity.CPU), drover.FormatMemory(w.Capacity.MemoryMB))
}

func workerName(w *drover.Worker) string { return cmp.Or(w.Name, w.ID) }

// groupStats describe a group's eligible nodes as a pass leaves them.
type groupStats struct {
	withSlot         int     // nodes with a free slot
	busy, slots      int     // active attempts and slot capacity over all nodes
	mostCPU, mostMem int32   // the most free CPU and memory among nodes with a free slot, or -1
	frontier         []int32 // worker indices whose capacity no other eligible worker's dominates
}

// reason returns why jobs of shape s did not fit, building it once.
func (p *pass) reason(s int32) string {
	sh := &p.shapes[s]
	if sh.reason == "" {
		sh.reason = p.explain(&p.groups[sh.group], sh)
	}
	return sh.reason
}

func (p *pass) explain(g *group, sh *shape) string {
	r := p.explainGroup(g, sh)
	if len(g.avoid) > 0 {
		names := make([]string, len(g.avoid))
		for k, id := range g.avoid {
			names[k] = id
			for i := range p.workers {
				if p.workers[i].ID == id {
					names[k] = workerName(&p.workers[i])
				}
			}
		}
		r += "; not on " + strings.Join(names, ", ") + ", where it could not run"
	}
	return r
}

func (p *pass) explainGroup(g *group, sh *shape) string {
	if len(g.eligible) == 0 {
		return p.mismatch(g)
	}
	scope := "matching"
	if g.executor == "" && len(g.constraints) == 0 && len(g.eligible) == len(p.nodes) {
		scope = "READY"
	}
	st := p.stats(g)

	best := int32(-1)
	for _, i := range st.frontier {
		w := &p.workers[i]
		if w.Capacity.CPU >= sh.cpu && w.Capacity.MemoryMB >= sh.mem {
			best = -1
			break
		}
		if best < 0 || closer(sh.cpu, sh.mem, w, &p.workers[best]) {
			best = i
		}
	}
	if best >= 0 {
		return tooSmall(sh.cpu, sh.mem, "largest "+scope+" worker", &p.workers[best])
	}

	if st.withSlot == 0 {
		if len(g.eligible) == 1 {
			return fmt.Sprintf("the only %s worker, %s, has no free slot (%d of %d busy)",
				scope, workerName(p.nodeWorker(g.eligible[0])), st.busy, st.slots)
		}
		return fmt.Sprintf("all %d %s workers have no free slot (%d of %d slots busy)",
			len(g.eligible), scope, st.busy, st.slots)
	}

	c, m := &p.nodes[st.mostCPU], &p.nodes[st.mostMem]
	cw, mw := workerName(p.nodeWorker(st.mostCPU)), workerName(p.nodeWorker(st.mostMem))
	cpu, mem := drover.FormatCPU(sh.cpu), drover.FormatMemory(sh.mem)
	switch shortCPU, shortMem := sh.cpu > c.freeCPU, sh.mem > m.freeMem; {
	case shortCPU && shortMem:
		return fmt.Sprintf("needs %s CPU and %s memory; the largest free is %s CPU (worker %s) and %s memory (worker %s)",
			cpu, mem, freeCPU(c), cw, freeMem(m), mw)
	case shortCPU:
		return fmt.Sprintf("needs %s CPU; the largest free is %s (worker %s)", cpu, freeCPU(c), cw)
	case shortMem:
		return fmt.Sprintf("needs %s memory; the largest free is %s (worker %s)", mem, freeMem(m), mw)
	case st.mostCPU != st.mostMem:
		// Each resource is free somewhere, never both on one worker.
		return fmt.Sprintf("needs %s CPU and %s memory; no %s worker has both free: the most CPU is %s on %s (with %s memory), the most memory %s on %s (with %s CPU)",
			cpu, mem, scope, freeCPU(c), cw, freeMem(c), freeMem(m), mw, freeCPU(m))
	}
	// Unreachable: a shape fails only when no node fits it, and nodes only
	// lose free resources afterwards.
	return "no " + scope + " worker can take it now"
}

func (p *pass) nodeWorker(n int32) *drover.Worker { return &p.workers[p.nodes[n].w] }

// freeCPU and freeMem show a node's free resources, never below zero (an
// over-allocated worker has none).
func freeCPU(n *node) string { return drover.FormatCPU(max(n.freeCPU, 0)) }
func freeMem(n *node) string { return drover.FormatMemory(max(n.freeMem, 0)) }

// stats computes g's stats once, after placement is over.
func (p *pass) stats(g *group) *groupStats {
	if g.stats != nil {
		return g.stats
	}
	st := &groupStats{mostCPU: -1, mostMem: -1}
	for _, i := range g.eligible {
		nd := &p.nodes[i]
		w := &p.workers[nd.w]
		st.busy += nd.active
		st.slots += w.Capacity.Slots
		if nd.freeSlots <= 0 {
			continue
		}
		st.withSlot++
		// Nodes are in id order: on equal free amounts the first id stays.
		if st.mostCPU < 0 || nd.freeCPU > p.nodes[st.mostCPU].freeCPU {
			st.mostCPU = i
		}
		if st.mostMem < 0 || nd.freeMem > p.nodes[st.mostMem].freeMem {
			st.mostMem = i
		}
	}
	// The frontier holds every capacity not dominated by another. A job
	// fits some eligible worker's capacity iff it fits one on the
	// frontier. The worker closest to holding it is on the frontier too.
	// Fleets of a few machine types have a frontier of a few workers.
	// Explaining many shapes is then cheap however many workers there are.
	byCap := make([]int32, len(g.eligible))
	for k, i := range g.eligible {
		byCap[k] = p.nodes[i].w
	}
	slices.SortFunc(byCap, func(a, b int32) int {
		ca, cb := &p.workers[a].Capacity, &p.workers[b].Capacity
		return cmp.Or(cmp.Compare(cb.CPU, ca.CPU), cmp.Compare(cb.MemoryMB, ca.MemoryMB),
			strings.Compare(p.workers[a].ID, p.workers[b].ID))
	})
	for _, i := range byCap {
		if len(st.frontier) == 0 || p.workers[i].Capacity.MemoryMB > p.workers[st.frontier[len(st.frontier)-1]].Capacity.MemoryMB {
			st.frontier = append(st.frontier, i)
		}
	}
	g.stats = st
	return st
}

// mismatch explains why no READY worker matches g's executor and labels.
func (p *pass) mismatch(g *group) string {
	if len(p.workers) == 0 {
		return "no worker registered"
	}
	if len(p.nodes) == 0 {
		count := map[drover.WorkerState]int{}
		for i := range p.workers {
			count[p.workers[i].State]++
		}
		var parts []string
		for _, s := range slices.Sorted(maps.Keys(count)) {
			parts = append(parts, fmt.Sprintf("%d %s", count[s], cmp.Or(string(s), "unknown")))
		}
		return "no READY worker (" + strings.Join(parts, ", ") + ")"
	}
	withExec := make([]*drover.Worker, 0, len(p.nodes))
	for i := range p.nodes {
		if w := p.nodeWorker(int32(i)); hasExecutor(w, g.executor) {
			withExec = append(withExec, w)
		}
	}
	if len(withExec) == 0 {
		if g.executor == "" {
			return "no READY worker runs jobs without an image (all are docker-only)" + p.notReady(g.executor) +
				": give the job an --image, or " + howToOffer(drover.ExecutorProcess)
		}
		return "no READY worker offers executor " + g.executor + p.notReady(g.executor) + ": " + howToOffer(g.executor)
	}
	// Name the labels nobody offers first; then those only workers without
	// the executor offer; then admit that no worker has them all at once.
	var absent, elsewhere []string
	for _, l := range g.constraints {
		has := func(w *drover.Worker) bool { v, ok := w.Labels[l.name]; return ok && v == l.value }
		if slices.ContainsFunc(withExec, has) {
			continue
		}
		kv := l.name + "=" + l.value
		if slices.ContainsFunc(p.nodes, func(n node) bool { return has(&p.workers[n.w]) }) {
			elsewhere = append(elsewhere, kv)
		} else {
			absent = append(absent, kv)
		}
	}
	if len(absent) == 1 && absent[0] == drover.NetworkLabel+"=true" {
		return "no READY worker gives containers the network (start one with --allow-network, or drop --network)"
	}
	if len(absent) > 0 {
		return "no READY worker has " + labels(absent)
	}
	with := ""
	switch {
	case g.executor != "":
		with = " with executor " + g.executor
	case len(withExec) < len(p.nodes):
		with = " with an executor"
	}
	if len(elsewhere) > 0 {
		return "no READY worker" + with + " has " + labels(elsewhere)
	}
	all := make([]string, len(g.constraints))
	for k, l := range g.constraints {
		all[k] = l.name + "=" + l.value
	}
	return "no READY worker" + with + " has all of the labels " + strings.Join(all, ", ")
}

// notReady names the workers that are not READY but would run jobs asking
// for executor. It reads like " (w2, which does, is DOWN)", or is "" when
// there are none. It tells a user the job waits for a worker that may come
// back.
func (p *pass) notReady(executor string) string {
	var ws []*drover.Worker
	for i := range p.workers {
		if w := &p.workers[i]; w.State != drover.WorkerReady && hasExecutor(w, executor) {
			ws = append(ws, w)
		}
	}
	if len(ws) == 1 {
		return " (" + workerName(ws[0]) + ", which does, is " + string(ws[0].State) + ")"
	}
	var names []string
	for _, w := range ws[:min(len(ws), 3)] {
		names = append(names, workerName(w)+" "+string(w.State))
	}
	if len(ws) > 3 {
		names = append(names, fmt.Sprintf("%d more", len(ws)-3))
	}
	if len(names) == 0 {
		return ""
	}
	return " (those that do are not READY: " + strings.Join(names, ", ") + ")"
}

func labels(kvs []string) string {
	if len(kvs) == 1 {
		return "label " + kvs[0]
	}
	return "labels " + strings.Join(kvs, ", ")
}
