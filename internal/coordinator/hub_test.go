package coordinator

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/drover-dev/drover"
)

// publishJobs publishes n job events whose job ids are "j<event id>".
func publishJobs(h *Hub, n int) {
	for range n {
		h.Publish(drover.Event{Type: "job", Job: &drover.Job{ID: fmt.Sprint("j", h.Last()+1)}})
	}
}

func eventIDs(t *testing.T, evs []drover.Event) []int64 {
	t.Helper()
	var ids []int64
	for _, ev := range evs {
		if ev.Job == nil || ev.Job.ID != fmt.Sprint("j", ev.ID) {
			t.Errorf("event %d carries %+v, not the job published under that id", ev.ID, ev.Job)
		}
		ids = append(ids, ev.ID)
	}
	return ids
}

func TestHubIDs(t *testing.T) {
	h := NewHub(8)
	if h.Last() != 0 {
		t.Fatalf("Last of an empty hub = %d, want 0", h.Last())
	}
	for want := int64(1); want <= 20; want++ {
		publishJobs(h, 1)
		if h.Last() != want {
			t.Fatalf("Last after %d events = %d", want, h.Last())
		}
	}
	evs, _, ok := h.Since(18)
	if got := eventIDs(t, evs); !ok || fmt.Sprint(got) != "[19 20]" {
		t.Errorf("Since(18) = %v, %v; want [19 20]", got, ok)
	}
	// The hub numbers events itself, whatever id the caller set.
	h.Publish(drover.Event{ID: 999, Type: "worker"})
	if evs, _, _ := h.Since(20); len(evs) != 1 || evs[0].ID != 21 {
		t.Errorf("event published with ID 999 came back as %+v, want id 21", evs)
	}
}

func TestHubSince(t *testing.T) {
	tests := []struct {
		name      string
		size      int
		published int
		id        int64
		want      string // event ids, as fmt prints a []int64
		ok        bool
	}{
		{name: "zero replays all that is kept", size: 4, published: 3, id: 0, want: "[1 2 3]", ok: true},
		{name: "zero after the ring wrapped is a reset", size: 4, published: 6, id: 0, want: "[]", ok: false},
		{name: "negative means from now on", size: 4, published: 3, id: -1, want: "[]", ok: true},
		{name: "zero on an empty hub", size: 4, published: 0, id: 0, want: "[]", ok: true},
		{name: "caught up", size: 4, published: 3, id: 3, want: "[]", ok: true},
		{name: "one behind", size: 4, published: 3, id: 2, want: "[3]", ok: true},
		{name: "from the first", size: 4, published: 3, id: 1, want: "[2 3]", ok: true},
		{name: "ring exactly full", size: 4, published: 4, id: 1, want: "[2 3 4]", ok: true},
		{name: "oldest kept is the next one", size: 4, published: 6, id: 2, want: "[3 4 5 6]", ok: true},
		{name: "wrapped, middle", size: 4, published: 6, id: 4, want: "[5 6]", ok: true},
		{name: "overflow", size: 4, published: 6, id: 1, want: "[]", ok: false},
		{name: "long overflow", size: 4, published: 100, id: 50, want: "[]", ok: false},
		{name: "ring of one", size: 1, published: 3, id: 2, want: "[3]", ok: true},
		{name: "ring of one, overflow", size: 1, published: 3, id: 1, want: "[]", ok: false},
		{name: "id from the future", size: 4, published: 3, id: 4, want: "[]", ok: false},
		{name: "id from another life", size: 4, published: 0, id: 7, want: "[]", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHub(tt.size)
			publishJobs(h, tt.published)
			evs, wait, ok := h.Since(tt.id)
			got := eventIDs(t, evs)
			if got == nil {
				got = []int64{}
			}
			if fmt.Sprint(got) != tt.want || ok != tt.ok {
				t.Errorf("Since(%d) = %v, ok=%v; want %s, ok=%v", tt.id, got, ok, tt.want, tt.ok)
			}
			if wait == nil {
				t.Fatal("Since returned a nil wait channel")
			}
			select {
			case <-wait:
				t.Error("wait channel closed before any new event")
			default:
			}
		})
	}
}

func TestHubWaitClosedByPublish(t *testing.T) {
	h := NewHub(8)
	publishJobs(h, 2)
	last := h.Last()
	evs, wait, ok := h.Since(last)
	if len(evs) != 0 || !ok {
		t.Fatalf("Since(Last) = %v, %v", evs, ok)
	}

	woke := make(chan []drover.Event)
	go func() {
		<-wait
		evs, _, _ := h.Since(last)
		woke <- evs
	}()
	select {
	case <-woke:
		t.Fatal("woken before any Publish")
	default:
	}
	publishJobs(h, 1)
	select {
	case evs := <-woke:
		if got := eventIDs(t, evs); fmt.Sprint(got) != "[3]" {
			t.Errorf("after the wake-up Since(%d) = %v, want [3]", last, got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("wait channel not closed by Publish")
	}

	// The next Since hands out a fresh channel, open until the next Publish.
	_, next, _ := h.Since(h.Last())
	select {
	case <-next:
		t.Fatal("fresh wait channel already closed")
	default:
	}
	publishJobs(h, 1)
	select {
	case <-next:
	case <-time.After(5 * time.Second):
		t.Fatal("fresh wait channel not closed by Publish")
	}
}

// Followers that resume from the last id they saw get every event once, in
// order, while publishers race them.
func TestHubFollowersMissNothing(t *testing.T) {
	const publishers, each, followers = 4, 250, 3
	h := NewHub(publishers * each)
	publishJobs(h, 1)
	start := h.Last()

	var wg sync.WaitGroup
	results := make(chan []int64, followers)
	for range followers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := start
			var got []int64
			deadline := time.After(10 * time.Second)
			for len(got) < publishers*each {
				evs, wait, ok := h.Since(last)
				if !ok {
					t.Errorf("Since(%d) reported a gap", last)
					return
				}
				for _, ev := range evs {
					got = append(got, ev.ID)
					last = ev.ID
				}
				if len(evs) > 0 {
					continue
				}
				select {
				case <-wait:
				case <-deadline:
					t.Errorf("follower saw %d of %d events", len(got), publishers*each)
					return
				}
			}
			results <- got
		}()
	}
	var pub sync.WaitGroup
	for p := range publishers {
		pub.Add(1)
		go func() {
			defer pub.Done()
			for range each {
				h.Publish(drover.Event{Type: "worker", Worker: &drover.Worker{ID: fmt.Sprint("w", p)}})
			}
		}()
	}
	pub.Wait()
	wg.Wait()
	close(results)
	for got := range results {
		for i, id := range got {
			if id != start+1+int64(i) {
				t.Fatalf("follower got id %d at position %d, want %d", id, i, start+1+int64(i))
			}
		}
	}
}

func TestHubClose(t *testing.T) {
	h := NewHub(4)
	publishJobs(h, 1)
	select {
	case <-h.Done():
		t.Fatal("Done closed before Close")
	default:
	}
	closed := make(chan struct{})
	go func() {
		<-h.Done()
		close(closed)
	}()
	h.Close()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed by Close")
	}
	h.Close() // twice is harmless

	// A closed hub takes no more events.
	publishJobs(h, 3)
	if h.Last() != 1 {
		t.Errorf("Last after Publish on a closed hub = %d, want 1", h.Last())
	}
}
