package worker

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/client"
	"github.com/drover-dev/drover/internal/retry"
)

// Output batching limits.
const (
	postTimeout = time.Minute // one start, output or finish post
	maxChunk    = 64 << 10    // bytes of one chunk
	maxPost     = 1 << 20     // bytes of one output post
)

// attemptAPI is what a sender needs of the coordinator.
type attemptAPI interface {
	Start(ctx context.Context, attemptID string, req drover.StartRequest) error
	SendOutput(ctx context.Context, attemptID string, chunks []drover.OutputChunk) error
	Finish(ctx context.Context, attemptID string, req drover.FinishRequest) error
}

// sender reports one attempt to the coordinator in order: the start, the
// output, then the finish.
//
// Output is posted at once when no post is in flight. While one is,
// output gathers for the next post. So a lone line arrives at once, and a
// flood costs few requests. A failed post is tried again with the same
// seqs, so nothing is lost or doubled.
//
// Write blocks past the buffer bound while the coordinator answers. So a
// producer faster than the coordinator is slowed down. While the
// coordinator is unreachable the job keeps running. Output past the bound
// is then dropped and counted, and a marker says so once it is back.
type sender struct {
	api       attemptAPI
	attemptID string
	log       *slog.Logger
	bound     int
	onStale   func() // called once when the coordinator says the attempt is no longer current

	mu       sync.Mutex
	cond     *sync.Cond
	wake     chan struct{}
	startReq *drover.StartRequest
	startAt  time.Time // when the command started (monotonic)
	hold     time.Duration
	pending  []drover.OutputChunk // not yet frozen into a post
	buffered int                  // bytes pending or in flight
	nextSeq  int64
	dropped  int64 // bytes dropped since the last marker
	dropAt   int   // index in pending where the marker goes, while dropped > 0
	healthy  bool
	stale    bool
	finish   *drover.FinishRequest
	finished time.Time     // when Finish came: the attempt's end, for EndedAgo
	ended    chan struct{} // closed when the finish comes with no output left to send
	done     chan struct{}
}

// startWithdrawer is an attemptAPI whose start waits in a queue while a
// request is in flight, as the worker's reporter does. A start can be
// withdrawn from the queue when the command ends first. The finish then
// carries the start.
type startWithdrawer interface {
	StartUnlessEnded(ctx context.Context, attemptID string, req drover.StartRequest, ended <-chan struct{}) (withdrawn bool, err error)
}

func newSender(api attemptAPI, attemptID string, bound int, log *slog.Logger, onStale func()) *sender {
	s := &sender{api: api, attemptID: attemptID, bound: bound, log: log, onStale: onStale, hold: startHold,
		wake: make(chan struct{}, 1), healthy: true, nextSeq: 1, ended: make(chan struct{}), done: make(chan struct{})}
	s.cond = sync.NewCond(&s.mu)
	return s
}

func (s *sender) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Write queues output; see the type's comment for back-pressure and drops.
func (s *sender) Write(stream drover.Stream, p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(p) > 0 {
		for s.buffered >= s.bound && s.healthy && !s.stale {
			s.cond.Wait()
		}
		if s.stale {
			return
		}
		if s.buffered >= s.bound {
			if s.dropped == 0 {
				// The marker goes here; bytes dropped before it is
				// posted are counted in it.
				s.dropAt = len(s.pending)
			}
			s.dropped += int64(len(p))
			return
		}
		n := min(len(p), s.bound-s.buffered)
		s.appendLocked(stream, p[:n])
		p = p[n:]
	}
	s.signal()
}

func (s *sender) appendLocked(stream drover.Stream, p []byte) {
	s.buffered += len(p)
	for len(p) > 0 {
		if k := len(s.pending); k > 0 && s.pending[k-1].Stream == stream && len(s.pending[k-1].Data) < maxChunk &&
			(s.dropped == 0 || k > s.dropAt) {
			last := &s.pending[k-1]
			n := min(len(p), maxChunk-len(last.Data))
			last.Data = append(last.Data, p[:n]...)
			p = p[n:]
			continue
		}
		n := min(len(p), maxChunk)
		data := make([]byte, n, min(maxChunk, max(n, 4096)))
		copy(data, p[:n])
		s.pending = append(s.pending, drover.OutputChunk{Stream: stream, Data: data})
		p = p[n:]
	}
}

// startHold is how long a start is held back while the command is silent.
// A command that ends within it is reported by one finish that carries its
// start. That saves a report, a write to the store and a state change for
// every watcher. StartRequest.Running dates the start whenever it is sent,
// and output sends it at once. So the hold only delays when a job shows as
// running. docs/performance.md says why it is this long.
const startHold = 50 * time.Millisecond

// Start queues the start report.
func (s *sender) Start(req drover.StartRequest) {
	s.mu.Lock()
	s.startReq = &req
	s.startAt = time.Now()
	s.mu.Unlock()
	s.signal()
}

// Finish queues the finish report after all output and waits until the
// coordinator has it, the attempt turned out stale, or ctx ends.
func (s *sender) Finish(ctx context.Context, req drover.FinishRequest) {
	s.mu.Lock()
	if s.finish == nil && len(s.pending) == 0 && s.dropped == 0 {
		close(s.ended)
	}
	s.finish, s.finished = &req, time.Now()
	s.mu.Unlock()
	s.signal()
	select {
	case <-s.done:
	case <-ctx.Done():
	}
}

// run posts until the finish is delivered, the attempt is stale, or ctx
// ends. Each turn takes the next step under the lock, then posts without
// it.
func (s *sender) run(ctx context.Context) {
	defer close(s.done)
	defer s.stopWrites()
	var timer holdTimer
	defer timer.stop()
	started := false
	for {
		act := s.take(started)
		switch act.step {
		case stepIdle, stepHold:
			if !s.sleep(ctx, timer.after(act.hold)) {
				return
			}
		case stepStart:
			withdrawn, ok := s.postStart(ctx, act)
			if !ok {
				return
			}
			// A withdrawn start is carried by the finish, which comes next.
			started = !withdrawn
		case stepBatch:
			if !s.post(ctx, func(ctx context.Context) error { return s.api.SendOutput(ctx, s.attemptID, act.batch) }) {
				return
			}
			s.delivered(act.bytes)
		case stepFinish:
			s.postFinish(ctx, act)
			return
		}
	}
}

// step is what a sender does next.
type step int

const (
	stepIdle   step = iota // nothing to send: wait to be woken
	stepHold               // a start is held: wait for its hold to run out
	stepStart              // post the start
	stepBatch              // post the pending output
	stepFinish             // post the finish
)

// senderState is what a sender's next step depends on.
type senderState struct {
	started  bool          // the start went out
	start    bool          // Start was called
	holdLeft time.Duration // how much longer the start may be held
	output   bool          // output or a drop marker waits to be posted
	finish   bool          // Finish was called
}

// next decides a sender's next step from its state. The start goes first,
// then the output, then the finish.
//
// A start is held while the command is silent and the hold lasts. Then a
// command that ends within the hold is reported by one finish that
// carries its start. A start also goes with the finish when the end is
// known with no output to send first.
func next(st senderState) step {
	startWaits := st.start && !st.started
	switch {
	case startWaits && !st.finish && !st.output && st.holdLeft > 0:
		return stepHold
	case startWaits && (!st.finish || st.output):
		return stepStart
	case st.output:
		return stepBatch
	case st.finish:
		return stepFinish
	}
	return stepIdle
}

// action is a step with what it posts. take fills it under the lock.
type action struct {
	step      step
	hold      time.Duration        // stepHold: how much longer the start is held
	start     drover.StartRequest  // stepStart
	startAt   time.Time            // stepStart: when the command started
	finishing bool                 // stepStart: the end is known, so the start is not withdrawn
	batch     []drover.OutputChunk // stepBatch: the chunks, numbered
	bytes     int                  // stepBatch: the output bytes they carry
	finish    drover.FinishRequest // stepFinish
	endedAt   time.Time            // stepFinish: when Finish came
}

// take decides the next step and takes what it posts. It reads the clock
// once. So a held start is certain to be woken by the timer armed for
// what is left of its hold.
func (s *sender) take(started bool) action {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := senderState{started: started, start: s.startReq != nil, output: len(s.pending) > 0 || s.dropped > 0, finish: s.finish != nil}
	if st.start && !started {
		st.holdLeft = s.hold - time.Since(s.startAt)
	}
	act := action{step: next(st)}
	switch act.step {
	case stepHold:
		act.hold = st.holdLeft
	case stepStart:
		act.start, act.startAt, act.finishing = *s.startReq, s.startAt, st.finish
	case stepBatch:
		act.batch, act.bytes = s.freezeLocked()
	case stepFinish:
		act.finish, act.endedAt = s.finishLocked(started), s.finished
	}
	return act
}

// finishLocked is the finish to post. A finish that comes before the start
// went out carries the start.
func (s *sender) finishLocked(started bool) drover.FinishRequest {
	f := *s.finish
	f.LastSeq = s.nextSeq - 1
	if !started && s.startReq != nil {
		f.Started = true
		f.Phases.BundleFetch = cmp.Or(f.Phases.BundleFetch, s.startReq.BundleFetch)
		f.Phases.ImagePull = cmp.Or(f.Phases.ImagePull, s.startReq.ImagePull)
	}
	return f
}

// postStart posts act's start. It reports whether the start was withdrawn,
// and false for ok when post gave up.
//
// Each try says how long the command has run. So the start is dated right
// however long it waited. A start may wait in the worker's report queue
// (see startWithdrawer). It is withdrawn there when the command ends
// first, unless the end was known when the start was taken.
func (s *sender) postStart(ctx context.Context, act action) (withdrawn, ok bool) {
	req := func() drover.StartRequest {
		r := act.start
		r.Running = drover.Duration(time.Since(act.startAt))
		return r
	}
	op := func(ctx context.Context) error { return s.api.Start(ctx, s.attemptID, req()) }
	if sw, isSW := s.api.(startWithdrawer); isSW && !act.finishing {
		op = func(ctx context.Context) (err error) {
			withdrawn, err = sw.StartUnlessEnded(ctx, s.attemptID, req(), s.ended)
			return err
		}
	}
	ok = s.post(ctx, op)
	return withdrawn, ok
}

// postFinish posts act's finish. Each try says how long ago the attempt
// ended.
func (s *sender) postFinish(ctx context.Context, act action) {
	s.post(ctx, func(ctx context.Context) error {
		req := act.finish
		req.EndedAgo = drover.Duration(time.Since(act.endedAt))
		return s.api.Finish(ctx, s.attemptID, req)
	})
}

// delivered frees the buffer room of a posted batch. A producer blocked in
// Write may go on.
func (s *sender) delivered(bytes int) {
	s.mu.Lock()
	s.buffered -= bytes
	s.cond.Broadcast()
	s.mu.Unlock()
}

// stopWrites releases a producer blocked in Write. Later writes return at
// once.
func (s *sender) stopWrites() {
	s.mu.Lock()
	s.stale = true
	s.cond.Broadcast()
	s.mu.Unlock()
}

// sleep waits for a wake or for expired. It returns false when ctx ends
// first.
func (s *sender) sleep(ctx context.Context, expired <-chan time.Time) bool {
	select {
	case <-ctx.Done():
		return false
	case <-s.wake:
	case <-expired:
	}
	return true
}

// holdTimer is the one timer of a sender's held starts.
type holdTimer struct{ t *time.Timer }

// after arms the timer for d and returns its channel. It returns nil, a
// channel that never fires, when d is not positive.
func (h *holdTimer) after(d time.Duration) <-chan time.Time {
	if d <= 0 {
		return nil
	}
	if h.t == nil {
		h.t = time.NewTimer(d)
	} else {
		h.t.Reset(d)
	}
	return h.t.C
}

func (h *holdTimer) stop() {
	if h.t != nil {
		h.t.Stop()
	}
}

// freezeLocked takes pending chunks, up to maxPost bytes, and numbers them.
// A retry of the post resends exactly these. The marker of dropped output
// goes where the output was lost. That is after what was kept, and before
// what was written once the coordinator answered again.
func (s *sender) freezeLocked() ([]drover.OutputChunk, int) {
	var batch []drover.OutputChunk
	size, n := 0, 0
	for {
		if s.dropped > 0 && n == s.dropAt {
			msg := fmt.Sprintf("\n[drover: %d bytes of output were dropped while the coordinator was unreachable]\n", s.dropped)
			s.dropped = 0
			batch = append(batch, drover.OutputChunk{Seq: s.nextSeq, Stream: drover.Stderr, Data: []byte(msg)})
			s.nextSeq++
		}
		if n == len(s.pending) || (n > 0 && size+len(s.pending[n].Data) > maxPost) {
			break
		}
		ch := s.pending[n]
		ch.Seq = s.nextSeq
		s.nextSeq++
		size += len(ch.Data)
		batch = append(batch, ch)
		n++
	}
	s.pending = append(s.pending[:0:0], s.pending[n:]...)
	s.dropAt -= n
	return batch, size
}

// reportBackoff is the wait between a sender's tries of one report.
var reportBackoff = retry.Backoff{First: 50 * time.Millisecond, Max: 5 * time.Second, Jitter: true}

// post runs op until it succeeds, and then returns true. It returns false
// when ctx ends or the coordinator's answer is final. A final answer
// means the attempt is no longer this worker's to report, so onStale is
// called.
func (s *sender) post(ctx context.Context, op func(context.Context) error) bool {
	err := retry.Do(ctx, retry.Policy{
		Backoff:   reportBackoff,
		Retryable: client.Temporary,
		OnRetry: func(err error, wait time.Duration) {
			s.setHealthy(false)
			s.log.Debug("report failed; retrying", "attempt", s.attemptID, "err", err, "in", wait)
		},
	}, func(ctx context.Context) error {
		// A post that hangs is abandoned and tried again. The network may
		// have black-holed its connection. Until the post is abandoned the
		// coordinator counts as healthy, and a full buffer stalls the job.
		pctx, cancel := context.WithTimeout(ctx, postTimeout)
		defer cancel()
		return op(pctx)
	})
	switch {
	case err == nil:
		s.setHealthy(true)
		return true
	case ctx.Err() != nil:
		return false
	case drover.IsCode(err, drover.ECONFLICT) || drover.IsCode(err, drover.ENOTFOUND) || drover.IsCode(err, drover.EFORBIDDEN):
		s.log.Warn("attempt is no longer current; stopping it", "attempt", s.attemptID, "err", err)
	default:
		s.log.Error("coordinator refused a report; giving up on it", "attempt", s.attemptID, "err", err)
	}
	s.onStale()
	return false
}

func (s *sender) setHealthy(h bool) {
	s.mu.Lock()
	if s.healthy != h {
		s.healthy = h
		s.cond.Broadcast()
	}
	s.mu.Unlock()
}
