package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/client"
)

// ended is what the bench keeps of a job that reached a final state. It
// holds the few fields the bench reports on. Tens of thousands of them
// then weigh little on the bench process, and on the measured memory of an
// in-process coordinator.
type ended struct {
	state     drover.JobState
	message   string
	createdAt time.Time
	startedAt *time.Time
	arrived   time.Time // when the bench heard of it
}

// tracker follows GET /api/v1/events and records every job that ends, so
// the bench learns of completions from one stream instead of asking per
// job. A job may end before its submission call has returned; expect
// counts it either way.
type tracker struct {
	api *client.Client

	mu      sync.Mutex
	ends    map[string]ended
	want    map[string]bool // expected and not ended yet
	left    int             // of the current expectation
	done    chan struct{}   // closed when left reaches 0
	resets  int             // times the stream said we fell behind
	label   string          // Label value of this run's workers
	joined  map[string]bool // this run's workers seen registered
	joinedC chan struct{}   // closed and replaced when one joins
	last    time.Time       // the last event
	ready   chan struct{}   // closed once the stream is open
	readyOK sync.Once
}

func newTracker(api *client.Client, label string) *tracker {
	return &tracker{api: api,
		ends: map[string]ended{}, want: map[string]bool{}, ready: make(chan struct{}),
		label: label, joined: map[string]bool{}, joinedC: make(chan struct{})}
}

// run reads the stream until ctx ends. After a break it reconnects from
// the last event id, so nothing is missed unless the hub dropped it. wait
// deals with that.
func (t *tracker) run(ctx context.Context) {
	var lastID int64
	for ctx.Err() == nil {
		_ = t.stream(ctx, &lastID) // a break is followed by a reconnection
		if ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (t *tracker) stream(ctx context.Context, lastID *int64) error {
	from := *lastID
	if from == 0 {
		from = -1 // first connection: from now on
	}
	// Only the ends of jobs and the workers: the steps between are
	// neither encoded for the bench nor read by it.
	final := client.EventFilter{States: []drover.JobState{drover.JobCompleted, drover.JobFailed, drover.JobCancelled}}
	return t.api.EventStream(ctx, from, final, func() { t.readyOK.Do(func() { close(t.ready) }) }, func(typ string, id int64, data []byte) bool {
		if id > 0 {
			*lastID = id
		}
		switch typ {
		case "job":
			// Most job events are not final; skip decoding those. A final
			// state's name in the text (in a command, say) only costs a
			// decode.
			if !mayBeFinal(data) {
				break
			}
			var ev drover.Event
			if json.Unmarshal(data, &ev) == nil && ev.Job != nil && ev.Job.State.Final() {
				t.record(*ev.Job, time.Now())
			}
		case "worker":
			var ev drover.Event
			if json.Unmarshal(data, &ev) == nil && ev.Worker != nil && ev.Worker.Labels[Label] == t.label {
				t.join(ev.Worker.ID)
			}
		case "reset":
			t.mu.Lock()
			t.resets++
			t.mu.Unlock()
		}
		return true
	})
}

func (t *tracker) join(workerID string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.joined[workerID] {
		t.joined[workerID] = true
		close(t.joinedC)
		t.joinedC = make(chan struct{})
	}
}

// waitJoined waits until n of this run's workers have registered.
func (t *tracker) waitJoined(ctx context.Context, n int) error {
	for {
		t.mu.Lock()
		have, more := len(t.joined), t.joinedC
		t.mu.Unlock()
		if have >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-more:
		}
	}
}

func mayBeFinal(data []byte) bool {
	return bytes.Contains(data, []byte(`"state":"COMPLETED"`)) || bytes.Contains(data, []byte(`"state":"FAILED"`)) ||
		bytes.Contains(data, []byte(`"state":"CANCELLED"`))
}

func (t *tracker) record(j drover.Job, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.last = at
	if _, ok := t.ends[j.ID]; ok {
		return
	}
	t.ends[j.ID] = ended{state: j.State, message: j.Message, createdAt: j.CreatedAt, startedAt: j.StartedAt, arrived: at}
	if t.want[j.ID] {
		delete(t.want, j.ID)
		t.countLocked()
	}
}

func (t *tracker) countLocked() {
	t.left--
	if t.left == 0 && t.done != nil {
		close(t.done)
	}
}

// begin starts an expectation of n jobs; expect names them one by one.
func (t *tracker) begin(n int) <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.want = map[string]bool{}
	t.left = n
	t.last = time.Now()
	t.done = make(chan struct{})
	if n == 0 {
		close(t.done)
	}
	return t.done
}

// expect adds a submitted job to the current expectation.
func (t *tracker) expect(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.ends[id]; ok {
		t.countLocked()
		return
	}
	t.want[id] = true
}

// wait waits for the current expectation. The stream may fall silent for
// quiet while jobs are missing, when events were dropped because the bench
// fell behind. wait then asks for the missing jobs one by one. Those count
// as arrived when asked, which can only make the figures worse.
func (t *tracker) wait(ctx context.Context, done <-chan struct{}, quiet time.Duration) error {
	tick := time.NewTicker(quiet / 2)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		t.mu.Lock()
		silent := time.Since(t.last) > quiet
		var missing []string
		if silent {
			for id := range t.want {
				missing = append(missing, id)
			}
		}
		t.mu.Unlock()
		for _, id := range missing {
			j, err := t.api.Job(ctx, id)
			if err != nil {
				return fmt.Errorf("job %s: %w", id, err)
			}
			if j.State.Final() {
				j.Attempts = nil
				t.record(*j, time.Now())
			}
		}
	}
}

// get returns what is known of an ended job.
func (t *tracker) get(id string) (ended, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.ends[id]
	return e, ok
}

// forget drops the ended jobs, so a long prefill does not weigh on the
// bench process's memory.
func (t *tracker) forget() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ends = map[string]ended{}
}

func (t *tracker) resetCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.resets
}
