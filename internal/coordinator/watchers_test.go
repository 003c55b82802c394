package coordinator

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestWatcherStateChanged(t *testing.T) {
	ws := newWatchers()
	w := ws.watch("job1")
	defer w.Stop()

	// The first read must fetch the job, even before any change.
	if !w.StateChanged() {
		t.Error("a new watcher does not ask for the first read")
	}
	if w.StateChanged() {
		t.Error("StateChanged did not clear")
	}

	steps := []struct {
		name  string
		state []bool // notifies before the read
		woken bool
		want  bool
	}{
		{"nothing happened", nil, false, false},
		{"output only", []bool{false}, true, false},
		{"state change", []bool{true}, true, true},
		{"state then output, coalesced", []bool{true, false, false}, true, true},
		{"output then state, coalesced", []bool{false, false, true}, true, true},
		{"nothing after a read", nil, false, false},
	}
	for _, st := range steps {
		for _, s := range st.state {
			ws.notify("job1", s)
		}
		if got := pending(w.C); got != st.woken {
			t.Errorf("%s: woken=%v, want %v", st.name, got, st.woken)
		}
		if pending(w.C) {
			t.Errorf("%s: notifies were not coalesced into one wake-up", st.name)
		}
		if got := w.StateChanged(); got != st.want {
			t.Errorf("%s: StateChanged=%v, want %v", st.name, got, st.want)
		}
	}
}

func TestWatchersFanOut(t *testing.T) {
	ws := newWatchers()
	a1, a2, b := ws.watch("a"), ws.watch("a"), ws.watch("b")
	defer a1.Stop()
	defer a2.Stop()
	defer b.Stop()
	for _, w := range []*Watcher{a1, a2, b} {
		w.StateChanged()
	}

	ws.notify("a", true)
	ws.notify("nobody", true)
	for i, w := range []*Watcher{a1, a2} {
		if !received(w.C, 5*time.Second) || !w.StateChanged() {
			t.Errorf("follower %d of job a missed the change", i)
		}
	}
	if pending(b.C) || b.StateChanged() {
		t.Error("a follower of job b was woken by a change of job a")
	}
}

func TestWatcherStop(t *testing.T) {
	ws := newWatchers()
	w1, w2 := ws.watch("job1"), ws.watch("job1")
	w3 := ws.watch("job2")
	w1.StateChanged()

	w1.Stop()
	ws.notify("job1", true)
	if pending(w1.C) || w1.StateChanged() {
		t.Error("a stopped watcher was notified")
	}
	if !pending(w2.C) {
		t.Error("stopping one follower unsubscribed another")
	}
	w2.Stop()
	w3.Stop()
	if n := len(ws.m); n != 0 {
		t.Fatalf("%d jobs left in the map after every watcher stopped", n)
	}
}

// A second Stop is harmless: it must not unsubscribe a later follower of the
// same job.
func TestWatcherStopTwice(t *testing.T) {
	ws := newWatchers()
	w1 := ws.watch("job1")
	w1.Stop()
	w2 := ws.watch("job1")
	defer w2.Stop()
	w1.Stop()

	ws.notify("job1", false)
	if !pending(w2.C) {
		t.Fatal("a second Stop of an old watcher unsubscribed a new follower of the same job")
	}
}

func TestWatchersConcurrent(t *testing.T) {
	ws := newWatchers()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprint("job", g%3)
			for range 200 {
				w := ws.watch(id)
				ws.notify(id, g%2 == 0)
				pending(w.C)
				w.StateChanged()
				w.Stop()
			}
		}()
	}
	wg.Wait()
	if n := len(ws.m); n != 0 {
		t.Fatalf("%d jobs left in the map: watchers leaked", n)
	}
}
