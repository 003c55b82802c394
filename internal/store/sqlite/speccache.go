package sqlite

import (
	"maps"
	"slices"
	"sync"

	"github.com/drover-dev/drover"
)

// specCacheSize is the number of decoded specs a generation holds. The
// cache keeps two generations, so at most twice as many.
const specCacheSize = 16384

// specCache keeps decoded job specs by job id. A spec is read again and
// again on a job's way through. Each scheduling pass reads the head of the
// queue, and delivery, start, end and followers read it too. The cache
// decodes it from JSON once. CreateJob puts the specs of the jobs it
// creates.
//
// A spec never changes once submitted, so an entry is never stale. When
// the current generation is full it becomes the previous one, and the
// oldest is dropped. What is used keeps being promoted, and the rest ages
// out.
//
// Specs go in and out as copies, so no caller shares maps or slices with
// the cache or with another caller.
type specCache struct {
	mu        sync.Mutex
	cur, prev map[string]drover.JobSpec
}

func newSpecCache() *specCache {
	return &specCache{cur: make(map[string]drover.JobSpec), prev: map[string]drover.JobSpec{}}
}

func (c *specCache) get(id string) (drover.JobSpec, bool) {
	c.mu.Lock()
	sp, ok := c.cur[id]
	if !ok {
		if sp, ok = c.prev[id]; ok {
			c.putLocked(id, sp)
		}
	}
	c.mu.Unlock()
	if !ok {
		return drover.JobSpec{}, false
	}
	return cloneSpec(sp), true
}

func (c *specCache) put(id string, sp drover.JobSpec) {
	sp = cloneSpec(sp)
	c.mu.Lock()
	c.putLocked(id, sp)
	c.mu.Unlock()
}

func (c *specCache) putLocked(id string, sp drover.JobSpec) {
	if len(c.cur) >= specCacheSize {
		c.prev, c.cur = c.cur, make(map[string]drover.JobSpec, specCacheSize)
	}
	c.cur[id] = sp
}

// cloneSpec copies the maps and slices of a spec; nil stays nil and empty
// stays empty, as JSON decoding made them.
func cloneSpec(sp drover.JobSpec) drover.JobSpec {
	sp.Command = slices.Clone(sp.Command)
	sp.Env = maps.Clone(sp.Env)
	sp.RetryOn = slices.Clone(sp.RetryOn)
	sp.Constraints = maps.Clone(sp.Constraints)
	return sp
}
