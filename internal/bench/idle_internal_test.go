package bench

import (
	"context"
	"errors"
	"sync"
	"testing"
)

// forEach calls fn once for every index when every call succeeds.
func TestForEachCallsEveryIndexOnce(t *testing.T) {
	for _, c := range []struct{ n, par int }{{0, 4}, {1, 4}, {10, 1}, {10, 3}, {100, 32}} {
		var mu sync.Mutex
		seen := map[int]int{}
		err := forEach(t.Context(), c.n, c.par, func(i int) error {
			mu.Lock()
			defer mu.Unlock()
			seen[i]++
			return nil
		})
		if err != nil {
			t.Fatalf("forEach(n=%d, par=%d): %v", c.n, c.par, err)
		}
		for i := range c.n {
			if seen[i] != 1 {
				t.Errorf("forEach(n=%d, par=%d) called index %d %d times, want once", c.n, c.par, i, seen[i])
			}
		}
		if len(seen) != c.n {
			t.Errorf("forEach(n=%d, par=%d) called %d indices", c.n, c.par, len(seen))
		}
	}
}

// forEach returns the first failure and hands out no index after it.
func TestForEachStopsAtAFailure(t *testing.T) {
	boom := errors.New("boom")
	calls := 0
	err := forEach(t.Context(), 10, 1, func(i int) error {
		calls++
		if i == 3 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || calls != 4 {
		t.Errorf("forEach = %v after %d calls, want boom after 4", err, calls)
	}
}

// forEach calls nothing once its context has ended.
func TestForEachStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	called := false
	if err := forEach(ctx, 5, 2, func(int) error { called = true; return nil }); err != nil || called {
		t.Errorf("forEach on an ended context = %v, called %v; want nil, false", err, called)
	}
}
