package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drover-dev/drover"
)

// waitFor bounds every wait on the sender; it is only reached when a test fails.
const waitFor = 10 * time.Second

// apiCall is one call the sender made: which report and what it carried.
type apiCall struct {
	op     string // "start", "output" or "finish"
	start  drover.StartRequest
	chunks []drover.OutputChunk
	finish drover.FinishRequest
}

// fakeAttemptAPI records every call on calls, in order, and answers each
// with reply (nil reply: success). reply may block; it gets the call's ctx.
type fakeAttemptAPI struct {
	calls chan apiCall
	reply func(ctx context.Context, c apiCall) error
}

func newFakeAttemptAPI(reply func(ctx context.Context, c apiCall) error) *fakeAttemptAPI {
	return &fakeAttemptAPI{calls: make(chan apiCall, 10000), reply: reply}
}

func (f *fakeAttemptAPI) do(ctx context.Context, c apiCall) error {
	f.calls <- c
	if f.reply == nil {
		return nil
	}
	return f.reply(ctx, c)
}

func (f *fakeAttemptAPI) Start(ctx context.Context, attemptID string, req drover.StartRequest) error {
	return f.do(ctx, apiCall{op: "start", start: req})
}

func (f *fakeAttemptAPI) SendOutput(ctx context.Context, attemptID string, chunks []drover.OutputChunk) error {
	// A deep copy: a retry must resend what was sent, whatever the sender
	// does with its buffers afterwards.
	cp := make([]drover.OutputChunk, len(chunks))
	for i, ch := range chunks {
		cp[i] = drover.OutputChunk{Seq: ch.Seq, Stream: ch.Stream, Data: bytes.Clone(ch.Data)}
	}
	return f.do(ctx, apiCall{op: "output", chunks: cp})
}

func (f *fakeAttemptAPI) Finish(ctx context.Context, attemptID string, req drover.FinishRequest) error {
	return f.do(ctx, apiCall{op: "finish", finish: req})
}

// next returns the sender's next call, failing the test after waitFor.
func (f *fakeAttemptAPI) next(t *testing.T) apiCall {
	t.Helper()
	select {
	case c := <-f.calls:
		return c
	case <-time.After(waitFor):
		t.Fatal("the sender made no call")
		return apiCall{}
	}
}

// runSender starts s.run with an owner that stops it and waits for it when
// the test ends.
func runSender(t *testing.T, s *sender) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	go s.run(ctx)
	t.Cleanup(func() {
		cancel()
		<-s.done
	})
}

func newTestSender(api attemptAPI, bound int, onStale func()) *sender {
	if onStale == nil {
		onStale = func() {}
	}
	return newSender(api, "att_1", bound, slog.New(slog.DiscardHandler), onStale)
}

// finishNow calls Finish with a deadline and fails the test if it is reached.
func finishNow(t *testing.T, s *sender, req drover.FinishRequest) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	s.Finish(ctx, req)
	if ctx.Err() != nil {
		t.Fatal("Finish did not return")
	}
}

// gate is a reply that blocks the calls it holds until released.
type gate struct{ release chan struct{} }

func newGate() *gate { return &gate{release: make(chan struct{})} }

func (g *gate) wait(ctx context.Context) error {
	select {
	case <-g.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *gate) open() { close(g.release) }

func exitCode(n int) *int { return &n }

// waitBuffered waits until the sender holds n bytes not yet delivered. It
// fails the test when the sender holds more: Write took past its bound.
func waitBuffered(t *testing.T, s *sender, n int) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		s.mu.Lock()
		b := s.buffered
		s.mu.Unlock()
		switch {
		case b > n:
			t.Fatalf("the sender holds %d bytes, past its bound of %d", b, n)
		case b == n:
			return
		case time.Now().After(deadline):
			t.Fatalf("the sender holds %d bytes after %s, want %d", b, waitFor, n)
		}
		time.Sleep(time.Millisecond) // polls the condition, bounded by the deadline
	}
}

// outputOf concatenates the data of the chunks of one stream.
func outputOf(chunks []drover.OutputChunk, stream drover.Stream) string {
	var b strings.Builder
	for _, ch := range chunks {
		if ch.Stream == stream {
			b.Write(ch.Data)
		}
	}
	return b.String()
}

func TestSenderOutputInOrderWithoutGaps(t *testing.T) {
	api := newFakeAttemptAPI(nil)
	s := newTestSender(api, 1<<20, nil)
	runSender(t, s)

	var wantOut, wantErr strings.Builder
	for i := range 500 {
		line := fmt.Sprintf("line %d\n", i)
		if i%7 == 0 {
			s.Write(drover.Stderr, []byte(line))
			wantErr.WriteString(line)
		} else {
			s.Write(drover.Stdout, []byte(line))
			wantOut.WriteString(line)
		}
	}
	finishNow(t, s, drover.FinishRequest{ExitCode: exitCode(0)})

	var got []drover.OutputChunk
	for c := range drainCalls(api) {
		switch c.op {
		case "output":
			got = append(got, c.chunks...)
		case "finish":
			if want := int64(len(got)); c.finish.LastSeq != want {
				t.Errorf("finish LastSeq = %d, want %d (the last seq posted)", c.finish.LastSeq, want)
			}
		default:
			t.Errorf("unexpected %s call", c.op)
		}
	}
	for i, ch := range got {
		if ch.Seq != int64(i+1) {
			t.Fatalf("chunk %d has seq %d, want %d: seqs must run 1, 2, 3… without gaps", i, ch.Seq, i+1)
		}
		if len(ch.Data) == 0 || len(ch.Data) > maxChunk {
			t.Errorf("chunk %d carries %d bytes, want 1…%d", i, len(ch.Data), maxChunk)
		}
	}
	if g := outputOf(got, drover.Stdout); g != wantOut.String() {
		t.Errorf("stdout differs from what was written:\n got %d bytes\nwant %d bytes", len(g), wantOut.Len())
	}
	if g := outputOf(got, drover.Stderr); g != wantErr.String() {
		t.Errorf("stderr differs from what was written:\n got %q\nwant %q", g, wantErr.String())
	}
}

// drainCalls yields the calls recorded so far, in order; use it once the
// sender has delivered its finish.
func drainCalls(api *fakeAttemptAPI) func(func(apiCall) bool) {
	return func(yield func(apiCall) bool) {
		for {
			select {
			case c := <-api.calls:
				if !yield(c) {
					return
				}
			default:
				return
			}
		}
	}
}

func TestSenderPostsALoneWriteAtOnce(t *testing.T) {
	api := newFakeAttemptAPI(nil)
	s := newTestSender(api, 1<<20, nil)
	runSender(t, s)

	s.Write(drover.Stdout, []byte("hello\n"))
	c := api.next(t)
	if c.op != "output" || len(c.chunks) != 1 {
		t.Fatalf("first call = %s with %d chunks, want one output chunk", c.op, len(c.chunks))
	}
	if ch := c.chunks[0]; ch.Seq != 1 || ch.Stream != drover.Stdout || string(ch.Data) != "hello\n" {
		t.Errorf("chunk = {seq %d, %s, %q}, want {seq 1, stdout, \"hello\\n\"}", ch.Seq, ch.Stream, ch.Data)
	}
}

func TestSenderBatchesWritesWhileAPostIsInFlight(t *testing.T) {
	g := newGate()
	var outputs atomic.Int32
	api := newFakeAttemptAPI(func(ctx context.Context, c apiCall) error {
		if c.op == "output" && outputs.Add(1) == 1 {
			return g.wait(ctx)
		}
		return nil
	})
	s := newTestSender(api, 4<<20, nil)
	runSender(t, s)

	s.Write(drover.Stdout, []byte("first\n"))
	if c := api.next(t); c.op != "output" || len(c.chunks) != 1 || c.chunks[0].Seq != 1 {
		t.Fatalf("first call = %s %+v, want one output chunk with seq 1", c.op, c.chunks)
	}

	// The first post is held: everything written now waits for the next.
	line := bytes.Repeat([]byte("x"), 1000)
	line[len(line)-1] = '\n'
	var want bytes.Buffer
	for range 150 { // 150,000 bytes: three chunks of stdout
		s.Write(drover.Stdout, line)
		want.Write(line)
	}
	s.Write(drover.Stderr, []byte("warning\n"))
	s.Write(drover.Stdout, []byte("after\n"))
	g.open()

	c := api.next(t)
	if c.op != "output" {
		t.Fatalf("second call = %s, want output", c.op)
	}
	var sizes []int
	for _, ch := range c.chunks {
		sizes = append(sizes, len(ch.Data))
	}
	wantSizes := []int{maxChunk, maxChunk, want.Len() - 2*maxChunk, len("warning\n"), len("after\n")}
	if fmt.Sprint(sizes) != fmt.Sprint(wantSizes) {
		t.Fatalf("second post carries chunks of %v bytes, want %v: writes made during a post are coalesced into chunks of at most %d bytes", sizes, wantSizes, maxChunk)
	}
	wantStreams := []drover.Stream{drover.Stdout, drover.Stdout, drover.Stdout, drover.Stderr, drover.Stdout}
	for i, ch := range c.chunks {
		if ch.Seq != int64(i+2) || ch.Stream != wantStreams[i] {
			t.Errorf("chunk %d = {seq %d, %s}, want {seq %d, %s}", i, ch.Seq, ch.Stream, i+2, wantStreams[i])
		}
	}
	if got := outputOf(c.chunks[:3], drover.Stdout); got != want.String() {
		t.Errorf("the coalesced stdout differs from what was written (%d bytes, want %d)", len(got), want.Len())
	}
}

func TestSenderRetriesAFailedPostWithTheSameChunks(t *testing.T) {
	g := newGate()
	var outputs atomic.Int32
	api := newFakeAttemptAPI(func(ctx context.Context, c apiCall) error {
		if c.op != "output" {
			return nil
		}
		switch outputs.Add(1) {
		case 1: // held, then refused as by a restarting coordinator
			if err := g.wait(ctx); err != nil {
				return err
			}
			return drover.Errorf(drover.EUNAVAILABLE, "shutting down")
		case 2: // a broken connection
			return errors.New("read tcp 127.0.0.1:8080: connection reset by peer")
		}
		return nil
	})
	s := newTestSender(api, 1<<20, nil)
	runSender(t, s)

	s.Write(drover.Stdout, []byte("one\n"))
	first := api.next(t)
	s.Write(drover.Stderr, []byte("two\n")) // written during the failing post
	s.Write(drover.Stdout, []byte("three\n"))
	g.open()

	for i := range 2 {
		retry := api.next(t)
		if retry.op != "output" || fmt.Sprint(retry.chunks) != fmt.Sprint(first.chunks) {
			t.Fatalf("retry %d carries %+v, want exactly the failed post %+v", i+1, retry.chunks, first.chunks)
		}
	}
	next := api.next(t)
	want := []drover.OutputChunk{{Seq: 2, Stream: drover.Stderr, Data: []byte("two\n")}, {Seq: 3, Stream: drover.Stdout, Data: []byte("three\n")}}
	if fmt.Sprint(next.chunks) != fmt.Sprint(want) {
		t.Errorf("post after the retries carries %+v, want %+v", next.chunks, want)
	}
	finishNow(t, s, drover.FinishRequest{ExitCode: exitCode(0)})
	if c := api.next(t); c.op != "finish" || c.finish.LastSeq != 3 {
		t.Errorf("last call = %s with LastSeq %d, want finish with LastSeq 3", c.op, c.finish.LastSeq)
	}
}

func TestSenderReportsStartThenOutputThenFinish(t *testing.T) {
	api := newFakeAttemptAPI(nil)
	s := newTestSender(api, 1<<20, nil)
	runSender(t, s)

	s.Start(drover.StartRequest{BundleFetch: drover.Duration(3 * time.Second)})
	s.Write(drover.Stdout, []byte("a\n"))
	s.Write(drover.Stdout, []byte("b\n"))
	finishNow(t, s, drover.FinishRequest{ExitCode: exitCode(3)})

	var ops []string
	var last int64
	for c := range drainCalls(api) {
		ops = append(ops, c.op)
		switch c.op {
		case "start":
			if c.start.BundleFetch.D() != 3*time.Second {
				t.Errorf("start carries bundle fetch %s, want 3s", c.start.BundleFetch)
			}
		case "output":
			last = c.chunks[len(c.chunks)-1].Seq
		case "finish":
			if c.finish.LastSeq != last || c.finish.ExitCode == nil || *c.finish.ExitCode != 3 {
				t.Errorf("finish = {LastSeq %d, exit %v}, want {LastSeq %d, exit 3}", c.finish.LastSeq, c.finish.ExitCode, last)
			}
		}
	}
	got := strings.Join(ops, ",")
	if !strings.HasPrefix(got, "start,output") || !strings.HasSuffix(got, "output,finish") || strings.Count(got, "start") != 1 {
		t.Errorf("calls = %s, want start, then output, then finish", got)
	}
	if last != 2 && last != 1 {
		t.Errorf("last output seq = %d, want 1 or 2", last)
	}
}

func TestSenderFinishWithoutOutput(t *testing.T) {
	api := newFakeAttemptAPI(nil)
	s := newTestSender(api, 1<<20, nil)
	runSender(t, s)

	finishNow(t, s, drover.FinishRequest{Reason: drover.ReasonExecutorError, Message: "no executor"})
	c := api.next(t)
	if c.op != "finish" || c.finish.LastSeq != 0 || c.finish.Reason != drover.ReasonExecutorError {
		t.Errorf("call = %s {LastSeq %d, reason %s}, want finish {LastSeq 0, executor_error}", c.op, c.finish.LastSeq, c.finish.Reason)
	}
}

func TestSenderStopsWhenTheAttemptIsNoLongerCurrent(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"conflict", drover.Errorf(drover.ECONFLICT, "attempt att_1 is no longer current")},
		{"not found", drover.Errorf(drover.ENOTFOUND, "no attempt att_1")},
		{"forbidden", drover.Errorf(drover.EFORBIDDEN, "attempt att_1 belongs to another worker")},
		{"invalid", drover.Errorf(drover.EINVALID, "chunk 0 has stream \"x\"")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := newFakeAttemptAPI(func(ctx context.Context, c apiCall) error { return tc.err })
			var stale atomic.Int32
			staleCh := make(chan struct{}, 10)
			s := newTestSender(api, 16, func() {
				stale.Add(1)
				staleCh <- struct{}{}
			})
			runSender(t, s)

			s.Write(drover.Stdout, []byte("out\n"))
			select {
			case <-staleCh:
			case <-time.After(waitFor):
				t.Fatal("onStale was not called")
			}
			select {
			case <-s.done:
			case <-time.After(waitFor):
				t.Fatal("the sender goes on after the attempt went stale")
			}
			// Nothing blocks now: not a write past the bound, not the finish.
			s.Write(drover.Stdout, bytes.Repeat([]byte("y"), 100))
			finishNow(t, s, drover.FinishRequest{ExitCode: exitCode(0)})

			if n := stale.Load(); n != 1 {
				t.Errorf("onStale called %d times, want once", n)
			}
			var ops []string
			for c := range drainCalls(api) {
				ops = append(ops, c.op)
			}
			if fmt.Sprint(ops) != "[output]" {
				t.Errorf("calls = %v, want the one refused output post", ops)
			}
		})
	}
}

func TestSenderBackPressureWhileTheCoordinatorIsSlow(t *testing.T) {
	g := newGate()
	var outputs atomic.Int32
	api := newFakeAttemptAPI(func(ctx context.Context, c apiCall) error {
		if c.op == "output" && outputs.Add(1) == 1 {
			return g.wait(ctx)
		}
		return nil
	})
	const bound = 16
	s := newTestSender(api, bound, nil)
	runSender(t, s)

	s.Write(drover.Stdout, []byte("0123456789")) // in flight, held
	api.next(t)
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		s.Write(drover.Stdout, []byte("abcdefghij")) // 6 fit, 4 must wait
	}()
	// A healthy coordinator that is merely slow slows the producer down:
	// nothing is dropped. The write takes what fits and waits for room,
	// holding the rest.
	waitBuffered(t, s, bound)
	select {
	case <-wrote:
		t.Fatal("Write past the bound returned while the coordinator was busy; it must block")
	default:
	}
	g.open()
	select {
	case <-wrote:
	case <-time.After(waitFor):
		t.Fatal("Write still blocked after the post in flight completed")
	}
	finishNow(t, s, drover.FinishRequest{ExitCode: exitCode(0)})

	var got []drover.OutputChunk
	for c := range drainCalls(api) {
		got = append(got, c.chunks...)
	}
	got = append([]drover.OutputChunk{{Seq: 1, Stream: drover.Stdout, Data: []byte("0123456789")}}, got...)
	if out := outputOf(got, drover.Stdout); out != "0123456789abcdefghij" {
		t.Errorf("stdout = %q, want every byte in order", out)
	}
	if errOut := outputOf(got, drover.Stderr); errOut != "" {
		t.Errorf("stderr = %q, want nothing dropped and no marker", errOut)
	}
}

func TestSenderDropsPastTheBoundWhileUnreachable(t *testing.T) {
	var reachable atomic.Bool
	failed := make(chan struct{}, 1000)
	api := newFakeAttemptAPI(func(ctx context.Context, c apiCall) error {
		if reachable.Load() {
			return nil
		}
		failed <- struct{}{}
		return errors.New("dial tcp 127.0.0.1:8080: connect: connection refused")
	})
	const bound = 16
	s := newTestSender(api, bound, nil)
	runSender(t, s)

	s.Write(drover.Stdout, []byte("0123456789"))
	for range 2 { // after the second failure the sender knows it is unreachable
		select {
		case <-failed:
		case <-time.After(waitFor):
			t.Fatal("the sender did not post")
		}
	}

	// The job keeps running: writes return at once, past the bound dropped.
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		s.Write(drover.Stdout, []byte("abcdefghijklmnopqrst")) // 6 kept, 14 dropped
		s.Write(drover.Stderr, []byte("12345"))                // dropped
	}()
	select {
	case <-wrote:
	case <-time.After(waitFor):
		t.Fatal("Write blocked while the coordinator was unreachable; it must drop instead")
	}
	reachable.Store(true)
	finishNow(t, s, drover.FinishRequest{ExitCode: exitCode(0)})

	var posts [][]drover.OutputChunk
	for c := range drainCalls(api) {
		if c.op == "output" {
			posts = append(posts, c.chunks)
		}
	}
	if len(posts) < 3 {
		t.Fatalf("%d output posts, want two failed, the retry that went through and the rest", len(posts))
	}
	for _, p := range posts[:len(posts)-1] {
		if fmt.Sprint(p) != fmt.Sprint(posts[0]) {
			t.Fatalf("retries differ: %+v then %+v", posts[0], p)
		}
	}
	marker := "\n[drover: 19 bytes of output were dropped while the coordinator was unreachable]\n"
	want := []drover.OutputChunk{
		{Seq: 2, Stream: drover.Stdout, Data: []byte("abcdef")},
		{Seq: 3, Stream: drover.Stderr, Data: []byte(marker)},
	}
	if first := []drover.OutputChunk{{Seq: 1, Stream: drover.Stdout, Data: []byte("0123456789")}}; fmt.Sprint(posts[0]) != fmt.Sprint(first) {
		t.Errorf("first post = %s, want %s", chunksText(posts[0]), chunksText(first))
	}
	if last := posts[len(posts)-1]; fmt.Sprint(last) != fmt.Sprint(want) {
		t.Errorf("post after the coordinator came back = %s, want %s: the output kept, then a marker saying how much was dropped",
			chunksText(last), chunksText(want))
	}
}

// The marker stands where output was lost: after what was kept before the
// drop, before what was written once the coordinator answered again, even
// when the kept output takes more than one post. The sender's loop is
// played by hand here so that each step happens in a known order.
func TestSenderPlacesTheDropMarkerWhereOutputWasLost(t *testing.T) {
	s := newTestSender(newFakeAttemptAPI(nil), 3<<20, nil)
	freeze := func() ([]drover.OutputChunk, int) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.freezeLocked()
	}
	delivered := func(bytes int) { // a post went through
		s.mu.Lock()
		s.healthy = true
		s.buffered -= bytes
		s.mu.Unlock()
	}

	s.Write(drover.Stdout, []byte("first"))
	_, inFlight := freeze()
	s.mu.Lock()
	s.healthy = false // the post in flight fails and is being retried
	s.mu.Unlock()
	kept := bytes.Repeat([]byte("k"), maxPost+maxChunk)
	s.Write(drover.Stdout, kept)
	s.Write(drover.Stdout, bytes.Repeat([]byte("d"), 3<<20)) // only part fits
	s.Write(drover.Stderr, []byte("lost"))
	delivered(inFlight)
	s.Write(drover.Stdout, []byte("later"))

	var posts [][]drover.OutputChunk
	for {
		batch, n := freeze()
		if batch == nil {
			break
		}
		posts = append(posts, batch)
		delivered(n)
	}
	var text strings.Builder
	seq := int64(1)
	for _, p := range posts {
		size := 0
		for _, ch := range p {
			seq++
			if ch.Seq != seq {
				t.Fatalf("seq %d, want %d", ch.Seq, seq)
			}
			if ch.Stream == drover.Stderr {
				fmt.Fprintf(&text, "<%s>", ch.Data)
				continue
			}
			if len(ch.Data) > maxChunk {
				t.Errorf("chunk %d carries %d bytes, over %d", ch.Seq, len(ch.Data), maxChunk)
			}
			size += len(ch.Data)
			text.Write(ch.Data)
		}
		if size > maxPost {
			t.Errorf("a post carries %d bytes of output, over %d", size, maxPost)
		}
	}
	keptD := 3<<20 - len("first") - len(kept)
	dropped := 3<<20 - keptD + len("lost")
	want := string(kept) + strings.Repeat("d", keptD) +
		fmt.Sprintf("<\n[drover: %d bytes of output were dropped while the coordinator was unreachable]\n>", dropped) + "later"
	if got := text.String(); got != want {
		i := 0
		for i < min(len(got), len(want)) && got[i] == want[i] {
			i++
		}
		t.Errorf("output differs at byte %d of %d:\n got …%.120q\nwant …%.120q", i, len(want), got[i:], want[i:])
	}
	if len(posts) < 2 {
		t.Errorf("%d posts, want the kept output split over several (at most %d bytes each)", len(posts), maxPost)
	}
}

func chunksText(chunks []drover.OutputChunk) string {
	var parts []string
	for _, ch := range chunks {
		parts = append(parts, fmt.Sprintf("{%d %s %q}", ch.Seq, ch.Stream, ch.Data))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func TestSenderFinishReturnsWhenItsContextEnds(t *testing.T) {
	api := newFakeAttemptAPI(func(ctx context.Context, c apiCall) error {
		<-ctx.Done() // a coordinator that never answers
		return ctx.Err()
	})
	s := newTestSender(api, 1<<20, nil)
	runSender(t, s)

	ctx, cancel := context.WithCancel(context.Background())
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		s.Finish(ctx, drover.FinishRequest{ExitCode: exitCode(0)})
	}()
	if c := api.next(t); c.op != "finish" {
		t.Fatalf("call = %s, want finish", c.op)
	}
	cancel()
	select {
	case <-returned:
	case <-time.After(waitFor):
		t.Fatal("Finish did not return when its context ended")
	}
}

// A command that ends within the hold, having written nothing, is reported
// by one finish that carries its start.
func TestSenderLetsTheFinishCarryAHeldStart(t *testing.T) {
	api := newFakeAttemptAPI(nil)
	s := newTestSender(api, 1<<20, nil)
	s.hold = waitFor // only the finish can end it
	runSender(t, s)

	s.Start(drover.StartRequest{})
	finishNow(t, s, drover.FinishRequest{ExitCode: exitCode(0)})
	if c := api.next(t); c.op != "finish" || !c.finish.Started {
		t.Fatalf("first call = %s (started %v), want the finish carrying the start", c.op, c.finish.Started)
	}
}

// Output ends the hold: the start goes out at once, before it.
func TestSenderSendsAHeldStartWhenOutputComes(t *testing.T) {
	api := newFakeAttemptAPI(nil)
	s := newTestSender(api, 1<<20, nil)
	s.hold = waitFor
	runSender(t, s)

	s.Start(drover.StartRequest{})
	s.Write(drover.Stdout, []byte("hello\n"))
	if c := api.next(t); c.op != "start" {
		t.Fatalf("first call = %s, want start", c.op)
	}
	if c := api.next(t); c.op != "output" {
		t.Fatalf("second call = %s, want output", c.op)
	}
}

// A silent command that outlasts the hold has its start sent, saying how
// long it has run so that the coordinator dates it right.
func TestSenderSendsAHeldStartAfterTheHold(t *testing.T) {
	api := newFakeAttemptAPI(nil)
	s := newTestSender(api, 1<<20, nil)
	s.hold = 20 * time.Millisecond
	runSender(t, s)

	s.Start(drover.StartRequest{})
	c := api.next(t)
	if c.op != "start" {
		t.Fatalf("first call = %s, want start", c.op)
	}
	if c.start.Running.D() < s.hold {
		t.Fatalf("start says the command ran %s, want at least the %s hold", c.start.Running, s.hold)
	}
}

// A hold that runs out just as the sender looks at it still ends with the
// start sent: the sender reads the clock once, so it either arms a timer
// for what is left or sends. Many senders with a hold of microseconds land
// on that boundary.
func TestSenderSendsAStartWhoseHoldRunsOutAsItLooks(t *testing.T) {
	for range 300 {
		api := newFakeAttemptAPI(nil)
		s := newTestSender(api, 1<<20, nil)
		s.hold = 20 * time.Microsecond
		ctx, cancel := context.WithCancel(context.Background())
		go s.run(ctx)
		s.Start(drover.StartRequest{})
		c := api.next(t)
		cancel()
		<-s.done
		if c.op != "start" {
			t.Fatalf("first call = %s, want start", c.op)
		}
	}
}
