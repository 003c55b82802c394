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

// sender reports one attempt to the coordinator in order: start, output
// chunks, finish. It posts output at once when no post is in flight and
// batches only while one is, so a lone line arrives in about a millisecond
// and a flood costs few requests. A failed post is retried with the same
// seqs, so nothing is lost or doubled. While the coordinator answers, a
// producer faster than the coordinator is slowed down (Write blocks past the
// buffer bound); while it is unreachable the job keeps running and output
// past the bound is dropped and counted, and a marker says so once back.
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
// request is in flight (the worker's reporter), and can be withdrawn from
// it when the command ends first, so that the finish carries the start.
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

// startHold is how long a start is held back while the command has
// written nothing: a command that ends within it is reported by one finish
// that carries its start, which saves a report, a write to the store and a
// state change for every watcher. The start is dated when the command
// started (StartRequest.Running) whenever it is sent, and output sends it
// at once, so only how soon a job shows as running is changed, by at most
// this much. Under load a short command's run stretches to tens of
// milliseconds (the machine is busy forking); 50 ms covers most of them
// where 10 ms covered about half, for ~10 % less of drover's CPU per
// /bin/true job, and stays well below what a person watching a job notices.
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

// run posts until finish was delivered, the attempt is stale, or ctx ends.
func (s *sender) run(ctx context.Context) {
	defer close(s.done)
	defer func() { // release a blocked producer
		s.mu.Lock()
		s.stale = true
		s.cond.Broadcast()
		s.mu.Unlock()
	}()
	started := false
	var holdTimer *time.Timer
	defer func() {
		if holdTimer != nil {
			holdTimer.Stop()
		}
	}()
	for {
		s.mu.Lock()
		var (
			start     *drover.StartRequest
			batch     []drover.OutputChunk
			bytes     int
			finish    *drover.FinishRequest
			held      time.Duration // how much longer the start is held
			finishing bool          // the end is known: a start sent now is not withdrawn
		)
		// One reading of the clock: what is held is certain to be woken by
		// the timer armed below.
		var remaining time.Duration
		if !started && s.startReq != nil {
			remaining = s.hold - time.Since(s.startAt)
		}
		switch {
		case !started && s.startReq != nil && s.finish == nil && len(s.pending) == 0 && s.dropped == 0 && remaining > 0:
			held = remaining
		case !started && s.startReq != nil && (s.finish == nil || len(s.pending) > 0 || s.dropped > 0):
			finishing = s.finish != nil
			// Reported on its own unless the end is already known with no
			// output to send first (then the finish carries it: one request
			// and one write less for a short command). A start that waits
			// in the worker's report queue when that end comes is taken
			// back for the same reason (see startWithdrawer).
			start = s.startReq
		case len(s.pending) > 0 || s.dropped > 0:
			batch, bytes = s.freezeLocked()
		case s.finish != nil:
			f := *s.finish
			f.LastSeq = s.nextSeq - 1
			if !started && s.startReq != nil {
				f.Started = true
				f.Phases.BundleFetch = cmp.Or(f.Phases.BundleFetch, s.startReq.BundleFetch)
				f.Phases.ImagePull = cmp.Or(f.Phases.ImagePull, s.startReq.ImagePull)
			}
			finish = &f
		}
		s.mu.Unlock()

		if start == nil && batch == nil && finish == nil {
			var expired <-chan time.Time
			if held > 0 {
				if holdTimer == nil {
					holdTimer = time.NewTimer(held)
				} else {
					holdTimer.Reset(held)
				}
				expired = holdTimer.C
			}
			select {
			case <-ctx.Done():
				return
			case <-s.wake:
			case <-expired:
			}
			continue
		}
		var (
			op        func(context.Context) error
			withdrawn bool
		)
		switch {
		case start != nil:
			// Each try says how long the command has run, so the start is
			// dated right however long it waited.
			req := func() drover.StartRequest {
				r := *start
				r.Running = drover.Duration(time.Since(s.startAt))
				return r
			}
			op = func(ctx context.Context) error { return s.api.Start(ctx, s.attemptID, req()) }
			if sw, ok := s.api.(startWithdrawer); ok && !finishing {
				op = func(ctx context.Context) (err error) {
					withdrawn, err = sw.StartUnlessEnded(ctx, s.attemptID, req(), s.ended)
					return err
				}
			}
		case batch != nil:
			op = func(ctx context.Context) error { return s.api.SendOutput(ctx, s.attemptID, batch) }
		default:
			op = func(ctx context.Context) error {
				req := *finish
				s.mu.Lock()
				req.EndedAgo = drover.Duration(time.Since(s.finished))
				s.mu.Unlock()
				return s.api.Finish(ctx, s.attemptID, req)
			}
		}
		if !s.post(ctx, op) {
			return
		}
		switch {
		case start != nil && withdrawn:
			// The command ended while its start waited for a request:
			// the finish, next, carries it.
		case start != nil:
			started = true
		case batch != nil:
			s.mu.Lock()
			s.buffered -= bytes
			s.cond.Broadcast()
			s.mu.Unlock()
		default:
			return
		}
	}
}

// freezeLocked takes pending chunks, up to maxPost bytes, and numbers them;
// a retry of the post resends exactly these. The marker of dropped output
// goes where the output was lost: after what was kept, before what was
// written once the coordinator answered again.
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
