package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/drover-dev/drover"
)

// maxGroup bounds the write calls merged into one transaction, so one
// commit does not keep a long line of callers waiting for the last of them.
const maxGroup = 256

// Group commit. Write calls are queued to one goroutine, the committer. It
// takes every call waiting, up to maxGroup, and runs them in one
// transaction. With synchronous=FULL every commit waits for the disk, and
// a write transaction also pays BEGIN and COMMIT. Both dominate a short
// call, and a group shares them.
//
// A call that fails is rolled back alone, as if it had run in a
// transaction of its own, and the others go on. The group then runs again
// with each call inside its own SAVEPOINT. See commitGroup.
//
// Every caller gets its answer after the one COMMIT. A call that returns
// nil is therefore on disk, as with a transaction of its own. A failed
// COMMIT fails every call of the group. Calls run in arrival order. Each
// sees the writes of those before it, as serial transactions would.
//
// A call whose context is done before its turn is not run. Once running, a
// call's statements ignore its context's cancellation. Interrupting a
// statement rolls back the whole transaction in SQLite, which would undo
// the other calls of the group. The call's result is then kept, as it is
// when a caller goes away just after a commit.
type committer struct {
	mu      sync.RWMutex // held for reading while queueing; Close takes it to stop new calls
	closed  bool
	running bool // the goroutine was started (Open got that far)
	calls   chan *writeCall
	stop    chan struct{}
	stopped chan struct{}
	wait    time.Duration // lazyWait; tests set it

	// What CommitStats reports.
	transactions, carried atomic.Uint64
}

type writeCall struct {
	ctx  context.Context
	fn   func(x *session) error
	err  chan error // buffered: the committer never waits for the caller
	lazy bool       // may wait up to lazyWait for company (see writeLazy)
}

// lazyWait is how long a group of lazy calls alone waits for more calls
// before it commits.
const lazyWait = 20 * time.Millisecond

var (
	qSavepoint  = writeQuery(`SAVEPOINT call`)
	qRelease    = writeQuery(`RELEASE call`)
	qRollbackTo = writeQuery(`ROLLBACK TO call`)
)

func newCommitter() *committer {
	return &committer{calls: make(chan *writeCall, maxGroup), stop: make(chan struct{}), stopped: make(chan struct{}), wait: lazyWait}
}

// write runs fn in a write transaction shared with other concurrent calls
// and returns once that transaction has committed (nil) or fn's own
// error. Errors come back as domain errors.
func (s *Store) write(ctx context.Context, fn func(x *session) error) error {
	return s.enqueue(ctx, &writeCall{ctx: ctx, fn: fn, err: make(chan error, 1)})
}

// writeLazy is write for a call nobody waits on closely, such as a
// heartbeat. When only such calls are queued, the committer gathers them
// for up to lazyWait. Many then share one commit, instead of paying a
// transaction and an fsync each as they trickle in. Any other call ends
// the wait at once, so the wait never delays it.
func (s *Store) writeLazy(ctx context.Context, fn func(x *session) error) error {
	return s.enqueue(ctx, &writeCall{ctx: ctx, fn: fn, err: make(chan error, 1), lazy: true})
}

func (s *Store) enqueue(ctx context.Context, c *writeCall) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.commits.mu.RLock()
	if s.commits.closed {
		s.commits.mu.RUnlock()
		return drover.Errorf(drover.EUNAVAILABLE, "the store is closed")
	}
	select {
	case s.commits.calls <- c:
	case <-ctx.Done():
		s.commits.mu.RUnlock()
		return ctx.Err()
	}
	s.commits.mu.RUnlock()
	return <-c.err
}

func (c *committer) started() bool { return c.running }

// CommitStats reports how many write transactions the store has run since
// it opened, and how many write calls they carried. Their ratio is how
// well concurrent calls share commits, and so fsyncs. A group run again
// after a failed call counts again.
func (s *Store) CommitStats() (transactions, calls uint64) {
	return s.commits.transactions.Load(), s.commits.carried.Load()
}

// startCommitter starts the committer's goroutine; Close stops it.
func (s *Store) startCommitter() {
	s.commits.running = true
	go s.commitLoop()
}

// commitLoop is the committer's goroutine, from Open to Close.
func (s *Store) commitLoop() {
	defer close(s.commits.stopped)
	group := make([]*writeCall, 0, maxGroup)
	for {
		var first *writeCall
		select {
		case first = <-s.commits.calls:
		case <-s.commits.stop:
			// Close holds the lock: nothing more can be queued.
			for {
				select {
				case c := <-s.commits.calls:
					c.err <- drover.Errorf(drover.EUNAVAILABLE, "the store is closed")
				default:
					return
				}
			}
		}
		group = append(group[:0], first)
		lazy := first.lazy
	fill:
		for len(group) < maxGroup {
			select {
			case c := <-s.commits.calls:
				group = append(group, c)
				lazy = lazy && c.lazy
			default:
				break fill
			}
		}
		if lazy && len(group) < maxGroup {
			group = s.gatherLazy(group)
		}
		live := group[:0]
		for _, c := range group {
			if err := c.ctx.Err(); err != nil {
				c.err <- err
				continue
			}
			live = append(live, c)
		}
		for len(live) > 0 {
			s.commits.transactions.Add(1)
			s.commits.carried.Add(uint64(len(live)))
			live = s.commitGroup(live)
		}
	}
}

// gatherLazy adds to a group of lazy calls what comes in within lazyWait.
// It stops early when a call that is not lazy comes, when the group is
// full, or when the store closes.
func (s *Store) gatherLazy(group []*writeCall) []*writeCall {
	t := time.NewTimer(s.commits.wait)
	defer t.Stop()
	for len(group) < maxGroup {
		select {
		case c := <-s.commits.calls:
			group = append(group, c)
			if !c.lazy {
				// Take what else is queued, and commit at once.
				for len(group) < maxGroup {
					select {
					case c := <-s.commits.calls:
						group = append(group, c)
					default:
						return group
					}
				}
				return group
			}
		case <-t.C:
			return group
		case <-s.commits.stop:
			return group
		}
	}
	return group
}

// closeCommitter stops the committer once the calls already queued have
// their answers.
func (s *Store) closeCommitter() {
	s.commits.mu.Lock()
	if s.commits.closed {
		s.commits.mu.Unlock()
		return
	}
	s.commits.closed = true
	s.commits.mu.Unlock()
	close(s.commits.stop)
	<-s.commits.stopped
}

// commitGroup runs calls in one transaction and answers them.
//
// It first runs them one after the other with no savepoint. The common
// case, where every call succeeds, then costs no statement beyond the
// calls' own. If one fails, the transaction is rolled back. The group then
// runs again through commitIsolated, with a savepoint around each call, so
// the failure is rolled back alone. Calls run twice that way are harmless.
// Nothing of the first run was committed, and each call sets its results
// afresh when it runs.
func (s *Store) commitGroup(calls []*writeCall) (again []*writeCall) {
	tx, err := s.w.BeginTx(context.Background(), nil)
	if err != nil {
		answer(calls, interpretError(fmt.Errorf("begin: %w", err)))
		return nil
	}
	bound := map[string]*sql.Stmt{} // statements bound to tx, shared by the calls
	for _, c := range calls {
		if err := c.fn(&session{ctx: context.WithoutCancel(c.ctx), tx: tx, stmts: s.wstmts, bound: bound, specs: s.specs}); err != nil {
			_ = tx.Rollback()
			if len(calls) == 1 {
				c.err <- interpretError(err)
				return nil
			}
			return s.commitIsolated(calls)
		}
	}
	if err := tx.Commit(); err != nil {
		_ = tx.Rollback()
		answer(calls, interpretError(fmt.Errorf("commit: %w", err)))
		return nil
	}
	answer(calls, nil)
	return nil
}

// commitIsolated runs calls in one transaction, each inside its own
// savepoint, and answers them. A failure may break the transaction itself,
// when a savepoint cannot be rolled back to. The call that failed then gets
// its error. The others are returned to run again in a fresh transaction,
// as nothing of theirs was committed.
func (s *Store) commitIsolated(calls []*writeCall) (again []*writeCall) {
	tx, err := s.w.BeginTx(context.Background(), nil)
	if err != nil {
		answer(calls, interpretError(fmt.Errorf("begin: %w", err)))
		return nil
	}
	bound := map[string]*sql.Stmt{}
	errs := make([]error, len(calls))
	for i, c := range calls {
		x := &session{ctx: context.WithoutCancel(c.ctx), tx: tx, stmts: s.wstmts, bound: bound, specs: s.specs}
		if _, err := x.exec(qSavepoint); err != nil {
			_ = tx.Rollback()
			answer(calls, interpretError(fmt.Errorf("savepoint: %w", err)))
			return nil
		}
		errs[i] = c.fn(x)
		if errs[i] != nil {
			if _, err := x.exec(qRollbackTo); err != nil {
				_ = tx.Rollback()
				c.err <- interpretError(errs[i])
				return append(append(again, calls[:i]...), calls[i+1:]...)
			}
		}
		if _, err := x.exec(qRelease); err != nil {
			_ = tx.Rollback()
			c.err <- interpretError(fmt.Errorf("release savepoint: %w", err))
			return append(append(again, calls[:i]...), calls[i+1:]...)
		}
	}
	if err := tx.Commit(); err != nil {
		_ = tx.Rollback()
		answer(calls, interpretError(fmt.Errorf("commit: %w", err)))
		return nil
	}
	for i, c := range calls {
		c.err <- interpretError(errs[i])
	}
	return nil
}

func answer(calls []*writeCall, err error) {
	for _, c := range calls {
		c.err <- err
	}
}
