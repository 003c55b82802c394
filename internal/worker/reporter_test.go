package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/client"
)

// fakeReports records batched and single calls; each batch waits for a
// release when hold is set.
type fakeReports struct {
	mu       sync.Mutex
	batches  [][]string
	singles  []string
	entered  chan int // a batch's size as it arrives
	release  chan struct{}
	noBatch  bool
	tooLarge bool   // refuse requests of more than one report with 413
	conflict string // attempt refused with 409
}

func (f *fakeReports) Report(ctx context.Context, workerID string, reps []drover.AttemptReport) ([]error, error) {
	if f.noBatch {
		return nil, fmt.Errorf("%w: 404 page not found", client.ErrNoReports)
	}
	if f.tooLarge && len(reps) > 1 {
		return nil, drover.Errorf(drover.ETOOLARGE, "request body is over the 1 MiB limit")
	}
	ids := make([]string, len(reps))
	errs := make([]error, len(reps))
	for i, r := range reps {
		ids[i] = r.AttemptID
		if r.AttemptID == f.conflict {
			errs[i] = drover.Errorf(drover.ECONFLICT, "attempt %s is no longer current", r.AttemptID)
		}
	}
	f.mu.Lock()
	f.batches = append(f.batches, ids)
	f.mu.Unlock()
	if f.entered != nil {
		f.entered <- len(reps)
	}
	if f.release != nil {
		select {
		case <-f.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return errs, nil
}

func (f *fakeReports) Start(ctx context.Context, id string, _ drover.StartRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.singles = append(f.singles, "start "+id)
	return nil
}

func (f *fakeReports) Finish(ctx context.Context, id string, _ drover.FinishRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.singles = append(f.singles, "finish "+id)
	return nil
}

func startReporter(t *testing.T, f *fakeReports) *reporter {
	t.Helper()
	r := newReporter(func() (reportAPI, string) { return f, "wrk_1" }, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

// queued waits until n reports wait in the queue, failing the test when
// they do not within waitFor.
func queued(t *testing.T, r *reporter, n int) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		r.mu.Lock()
		k := len(r.queue)
		r.mu.Unlock()
		if k >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d reports queued after %s, want %d", k, waitFor, n)
		}
		time.Sleep(100 * time.Microsecond) // polls the condition, bounded by the deadline
	}
}

func TestReporterBatchesWhileARequestIsInFlight(t *testing.T) {
	f := &fakeReports{entered: make(chan int, 10), release: make(chan struct{}), conflict: "att_3"}
	r := startReporter(t, f)
	ctx := context.Background()
	results := make(chan error, 10)
	go func() { results <- r.Start(ctx, "att_0", drover.StartRequest{}) }()
	if n := <-f.entered; n != 1 {
		t.Fatalf("first request carried %d reports, want 1 (sent at once)", n)
	}
	for i := 1; i <= 4; i++ {
		go func() { results <- r.Finish(ctx, fmt.Sprintf("att_%d", i), drover.FinishRequest{}) }()
	}
	queued(t, r, 4)
	close(f.release)
	if n := <-f.entered; n != 4 {
		t.Fatalf("second request carried %d reports, want the 4 that came in meanwhile", n)
	}
	var conflicts, ok int
	for range 5 {
		switch err := <-results; {
		case err == nil:
			ok++
		case drover.IsCode(err, drover.ECONFLICT):
			conflicts++
		default:
			t.Fatalf("unexpected answer %v", err)
		}
	}
	if ok != 4 || conflicts != 1 {
		t.Fatalf("%d stored and %d conflicts, want 4 and 1 (each report gets its own answer)", ok, conflicts)
	}
}

func TestReporterWithdrawsAReportItsCallerGaveUpOn(t *testing.T) {
	f := &fakeReports{entered: make(chan int, 10), release: make(chan struct{})}
	r := startReporter(t, f)
	go r.Start(context.Background(), "att_0", drover.StartRequest{})
	<-f.entered
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() { gaveUp <- r.Finish(ctx, "att_gone", drover.FinishRequest{}) }()
	queued(t, r, 1)
	cancel()
	if err := <-gaveUp; err != context.Canceled {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	kept := make(chan error, 1)
	go func() { kept <- r.Finish(context.Background(), "att_kept", drover.FinishRequest{}) }()
	queued(t, r, 1)
	close(f.release)
	<-f.entered
	if err := <-kept; err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if got := f.batches[1]; len(got) != 1 || got[0] != "att_kept" {
		t.Fatalf("second request carried %v, want only att_kept", got)
	}
}

func TestReporterFallsBackToOneByOne(t *testing.T) {
	f := &fakeReports{noBatch: true}
	r := startReporter(t, f)
	now := time.Now()
	r.mu.Lock()
	r.now = func() time.Time { return now }
	r.mu.Unlock()
	ctx := context.Background()
	if err := r.Start(ctx, "att_1", drover.StartRequest{}); err != nil {
		t.Fatal(err)
	}
	if err := r.Finish(ctx, "att_1", drover.FinishRequest{}); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	if len(f.singles) != 2 || f.singles[0] != "start att_1" || f.singles[1] != "finish att_1" {
		t.Fatalf("single calls %v, want the start then the finish", f.singles)
	}
	f.noBatch = false
	f.mu.Unlock()

	// After retryBatched, the batched call is tried again.
	r.mu.Lock()
	r.now = func() time.Time { return now.Add(retryBatched) }
	r.mu.Unlock()
	if err := r.Finish(ctx, "att_2", drover.FinishRequest{}); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.batches) != 1 || f.batches[0][0] != "att_2" {
		t.Fatalf("batches %v, want att_2 batched again", f.batches)
	}
}

// A batch refused as a whole (413) is not an answer about each report:
// they are sent one by one and each gets its own answer.
func TestReporterSplitsARefusedBatch(t *testing.T) {
	f := &fakeReports{entered: make(chan int, 10), release: make(chan struct{}), tooLarge: true}
	r := startReporter(t, f)
	ctx := context.Background()
	go r.Start(ctx, "att_0", drover.StartRequest{})
	<-f.entered
	results := make(chan error, 3)
	for i := 1; i <= 3; i++ {
		go func() { results <- r.Finish(ctx, fmt.Sprintf("att_%d", i), drover.FinishRequest{}) }()
	}
	queued(t, r, 3)
	close(f.release)
	for range 3 {
		if err := <-results; err != nil {
			t.Fatalf("a report of a refused batch failed: %v", err)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.singles) != 3 {
		t.Fatalf("single calls %v, want the 3 reports of the refused batch", f.singles)
	}
}

// A batch stays well under the coordinator's body limit, however long the
// messages; one report alone always goes.
func TestReporterBoundsABatchsBytes(t *testing.T) {
	r := newReporter(nil, slog.New(slog.DiscardHandler))
	long := strings.Repeat("<", 64<<10) // escaped as \u003c: 6 bytes each
	for i := range 10 {
		r.queue = append(r.queue, &report{AttemptReport: drover.AttemptReport{AttemptID: fmt.Sprintf("att_%d", i),
			Finish: &drover.FinishRequest{Message: long}}, done: make(chan error, 1)})
	}
	var sizes []int
	for len(r.queue) > 0 {
		batch := r.take()
		reps := make([]drover.AttemptReport, len(batch))
		for i, it := range batch {
			reps[i] = it.AttemptReport
		}
		b, err := json.Marshal(drover.ReportsRequest{Reports: reps})
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > maxBatchBytes && len(batch) > 1 {
			t.Fatalf("a batch of %d reports is %d bytes, over %d", len(batch), len(b), maxBatchBytes)
		}
		sizes = append(sizes, len(batch))
	}
	if len(sizes) < 2 {
		t.Fatalf("batches %v: 10 reports of ~390 KiB each went in one", sizes)
	}
	r.queue = append(r.queue, &report{AttemptReport: drover.AttemptReport{AttemptID: "att_huge",
		Finish: &drover.FinishRequest{Message: strings.Repeat("<", maxBatchBytes)}}, done: make(chan error, 1)})
	if got := r.take(); len(got) != 1 {
		t.Fatalf("a report over the bound alone: took %d, want 1", len(got))
	}
}

// A start still queued when its command ends is taken back (the finish
// will carry it); one already in a request is answered as usual.
func TestReporterWithdrawsAQueuedStartWhenTheCommandEnds(t *testing.T) {
	f := &fakeReports{entered: make(chan int, 10), release: make(chan struct{})}
	r := startReporter(t, f)
	type result struct {
		withdrawn bool
		err       error
	}
	sentEnded := make(chan struct{})
	sent := make(chan result, 1)
	go func() {
		w, err := r.StartUnlessEnded(context.Background(), "att_sent", drover.StartRequest{}, sentEnded)
		sent <- result{w, err}
	}()
	<-f.entered // in a request
	close(sentEnded)

	queuedEnded := make(chan struct{})
	queuedRes := make(chan result, 1)
	go func() {
		w, err := r.StartUnlessEnded(context.Background(), "att_queued", drover.StartRequest{}, queuedEnded)
		queuedRes <- result{w, err}
	}()
	queued(t, r, 1)
	close(queuedEnded)
	if got := <-queuedRes; !got.withdrawn || got.err != nil {
		t.Fatalf("queued start = %+v, want withdrawn", got)
	}
	close(f.release)
	if got := <-sent; got.withdrawn || got.err != nil {
		t.Fatalf("start already in a request = %+v, want its answer (not withdrawn)", got)
	}
	r.mu.Lock()
	left := len(r.queue)
	r.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d reports still queued, want none", left)
	}
}
