package sched

import (
	"encoding/binary"
	"math"
	"slices"

	"github.com/drover-dev/drover"
)

// group is the workers a job may use whatever their load. They are READY
// and have the job's executor and every label it asks for. The workers it
// avoids are left out unless no other would do.
type group struct {
	executor    string
	constraints []label  // sorted by name
	avoid       []string // worker ids it keeps away from (pass.avoiding)
	eligible    []int32  // indices in pass.nodes, ascending
	member      []bool   // by index in pass.nodes: in eligible
	classes     []class  // the eligible nodes not used yet that have a free slot

	// maxCPU and maxMem bound from above the free CPU and memory of eligible
	// nodes with a free slot, and exhausted is set once none has a slot.
	// Scans refresh them; placements only shrink free resources, so they
	// stay true between scans and let a job skip a scan that cannot succeed.
	maxCPU, maxMem int64
	exhausted      bool

	stats *groupStats // built on first need by reason
}

type label struct{ name, value string }

// class is a set of nodes that were in the same state when the pass began.
// They have the same capacity, free resources and active attempts.
//
// Until one of them takes a job they are interchangeable. They have the
// same feasibility and the same score for every shape. The one with the
// smallest id wins among them. A scan therefore looks at one node per
// class, and at the nodes used so far in the pass, instead of every node.
//
// A fleet of a few machine types, idle or evenly loaded, forms a few
// classes however many workers it has. A fleet of unique states has one
// node per class, and a scan is then a plain scan.
type class struct {
	nodes []int32 // in id order; nodes[:next] are used or skipped
	next  int
}

// classKey is what makes nodes interchangeable. The score reads capacity,
// free resources and active attempts, and nothing else.
type classKey struct {
	freeCPU, freeMem int64
	capacity         drover.Capacity
	freeSlots        int
	active           int
}

// first returns the first node of c not used yet at or after nodes[from], or -1.
func (c *class) first(used []bool, from int) int {
	for k := from; k < len(c.nodes); k++ {
		if !used[c.nodes[k]] {
			return k
		}
	}
	return -1
}

// groupOf returns the index of the group of spec's executor and constraints.
// The key length-prefixes every string, so no label text can forge another
// key, and sorts constraints by name.
func (p *pass) groupOf(spec *drover.JobSpec, avoid []string) int32 {
	key := binary.AppendUvarint(p.key[:0], uint64(len(avoid)))
	for _, id := range avoid {
		key = appendString(key, id)
	}
	key = appendString(key, spec.Executor)
	names := p.names[:0]
	for k := range spec.Constraints {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		key = appendString(appendString(key, k), spec.Constraints[k])
	}
	p.key, p.names = key, names
	if g, ok := p.groupIdx[string(key)]; ok { // no allocation for the lookup
		return g
	}
	g := group{executor: spec.Executor, maxCPU: math.MaxInt64, maxMem: math.MaxInt64}
	for _, k := range names {
		g.constraints = append(g.constraints, label{k, spec.Constraints[k]})
	}
	g.avoid = slices.Clone(avoid) // another READY worker could hold it (pass.avoiding)
	g.member = make([]bool, len(p.nodes))
	classOf := map[classKey]int{}
	for i := range p.nodes {
		if w := &p.workers[p.nodes[i].w]; !matches(w, g.executor, g.constraints) || slices.Contains(g.avoid, w.ID) {
			continue
		}
		g.eligible = append(g.eligible, int32(i))
		g.member[i] = true
		nd := &p.nodes[i]
		if p.used[i] || nd.freeSlots <= 0 {
			continue // used nodes are in p.open; full ones take nothing
		}
		k := classKey{nd.freeCPU, nd.freeMem, p.workers[nd.w].Capacity, nd.freeSlots, nd.active}
		c, ok := classOf[k]
		if !ok {
			c = len(g.classes)
			classOf[k] = c
			g.classes = append(g.classes, class{})
		}
		g.classes[c].nodes = append(g.classes[c].nodes, int32(i))
	}
	g.exhausted = len(g.eligible) == 0
	idx := int32(len(p.groups))
	p.groups = append(p.groups, g)
	p.groupIdx[string(key)] = idx
	return idx
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// matches reports whether w offers executor (any, when empty) and carries
// every label.
func matches(w *drover.Worker, executor string, labels []label) bool {
	if !hasExecutor(w, executor) {
		return false
	}
	for _, l := range labels {
		if v, ok := w.Labels[l.name]; !ok || v != l.value {
			return false
		}
	}
	return true
}

// hasExecutor reports whether w can run a job asking for executor: a named
// executor must be advertised; an empty one takes any worker with at least
// one executor.
func hasExecutor(w *drover.Worker, executor string) bool {
	if executor == "" {
		// A job that names no executor has no image, as an image implies
		// docker. It needs an executor that runs without one. That is
		// process, or noop under drover bench.
		for _, e := range w.Executors {
			if e != drover.ExecutorDocker {
				return true
			}
		}
		return false
	}
	return w.HasExecutor(executor)
}
