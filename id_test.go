package drover_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover-dev/drover"
)

const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

func TestNewIDShape(t *testing.T) {
	for _, prefix := range []string{"job", "att", "w", ""} {
		id := drover.NewID(prefix)
		rest, ok := strings.CutPrefix(id, prefix+"_")
		if !ok {
			t.Fatalf("NewID(%q) = %q, want the prefix and an underscore", prefix, id)
		}
		if len(rest) != 22 {
			t.Errorf("NewID(%q) = %q: %d characters after the prefix, want 22", prefix, id, len(rest))
		}
		for _, c := range rest {
			if !strings.ContainsRune(crockford, c) {
				t.Errorf("NewID(%q) = %q holds %q, not in Crockford's base32", prefix, id, c)
			}
		}
	}
}

// The first 48 bits are the Unix time in milliseconds, so ids sort like the
// times they were made.
func TestNewIDCarriesTime(t *testing.T) {
	before := time.Now().UnixMilli()
	id := drover.NewID("job")
	after := time.Now().UnixMilli()
	var v uint64
	for _, c := range strings.TrimPrefix(id, "job_")[:10] { // 50 bits
		v = v<<5 | uint64(strings.IndexRune(crockford, c))
	}
	ms := int64(v >> 2)
	// The counter may borrow a millisecond ahead when it wraps; allow one.
	if ms < before || ms > after+1 {
		t.Errorf("id %s carries %d ms, want within [%d, %d]", id, ms, before, after)
	}
}

func TestNewIDIncreasing(t *testing.T) {
	prev := drover.NewID("job")
	for i := range 10000 {
		id := drover.NewID("job")
		if id <= prev {
			t.Fatalf("call %d: %q is not after %q", i, id, prev)
		}
		prev = id
	}
}

func TestNewIDConcurrent(t *testing.T) {
	const goroutines, each = 8, 2000
	ids := make([][]string, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := make([]string, each)
			for i := range out {
				out[i] = drover.NewID("att")
			}
			ids[g] = out
		}()
	}
	wg.Wait()
	seen := make(map[string]bool, goroutines*each)
	for g, out := range ids {
		for i, id := range out {
			if seen[id] {
				t.Fatalf("duplicate id %q", id)
			}
			seen[id] = true
			if i > 0 && id <= out[i-1] {
				t.Fatalf("goroutine %d: %q is not after %q", g, id, out[i-1])
			}
		}
	}
}
