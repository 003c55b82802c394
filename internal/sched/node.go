package sched

import (
	"math/bits"

	"github.com/drover-dev/drover"
)

// Best fit compares fractions of capacity. They are compared exactly, in
// 128-bit integer arithmetic, rather than as float64 sums. Two workers
// whose free shares after placement are equal must tie. The documented
// tie-breaks then decide, not the rounding of whichever addition happened
// last. Those are fewer active attempts, then the worker id.

// scoreBits bounds a scaled capacity: with both capacities below 2^31 a
// score numerator stays below 2^63 and a denominator below 2^62, so every
// cross product fits in 128 bits.
const scoreBits = 31

// scale returns the right shift that brings capacity c below 2^scoreBits and
// the scaled capacity. Only capacities beyond two million cores or two PiB
// are shifted, and they lose only low bits. A capacity of zero or less
// scales to 1 with a shift of 63, which turns any free amount into 0: the
// dimension then counts for nothing in the score.
func scale(c int64) (shift uint8, scaled int64) {
	if c <= 0 {
		return 63, 1
	}
	for c>>shift >= 1<<scoreBits {
		shift++
	}
	return shift, c >> shift
}

// fracCmp compares an/ad with bn/bd for non-negative numerators. A zero
// denominator with a non-zero numerator stands for +Inf.
func fracCmp(an, ad, bn, bd uint64) int {
	h1, l1 := bits.Mul64(an, bd)
	h2, l2 := bits.Mul64(bn, ad)
	switch {
	case h1 < h2 || h1 == h2 && l1 < l2:
		return -1
	case h1 == h2 && l1 == l2:
		return 0
	}
	return 1
}

// node is a READY worker's state during one pass.
type node struct {
	freeCPU, freeMem int64 // capacity − allocated, reduced as the pass places jobs
	freeSlots        int
	active           int // attempts assigned or running, including this pass's
	// capCPU and capMem are the capacities scaled by shCPU and shMem. See
	// scale. den is their product, the denominator of the score.
	capCPU, capMem int64
	den            uint64
	shCPU, shMem   uint8
	w              int32 // index in the workers given to Place
}

// fits reports whether a request of cpu and mem can go on n now.
func (n *node) fits(cpu, mem int64) bool {
	return n.freeSlots > 0 && n.freeCPU >= cpu && n.freeMem >= mem
}

// score is the numerator of n's free share after placing cpu and mem, over
// the denominator n.den. The share is freeCPU/capCPU + freeMem/capMem. A
// smaller score is a tighter fit. n must fit the request. Free amounts
// above capacity count as capacity. An allocation below zero makes those.
func (n *node) score(cpu, mem int64) uint64 {
	fc := min((n.freeCPU-cpu)>>n.shCPU, n.capCPU)
	fm := min((n.freeMem-mem)>>n.shMem, n.capMem)
	return uint64(fc)*uint64(n.capMem) + uint64(fm)*uint64(n.capCPU)
}

// newNode returns the pass state of workers[i].
func newNode(i int, w *drover.Worker) node {
	free := w.Free()
	n := node{freeCPU: free.CPU, freeMem: free.MemoryMB, freeSlots: free.Slots, active: w.Allocated.Slots, w: int32(i)}
	n.shCPU, n.capCPU = scale(w.Capacity.CPU)
	n.shMem, n.capMem = scale(w.Capacity.MemoryMB)
	n.den = uint64(n.capCPU) * uint64(n.capMem)
	return n
}
