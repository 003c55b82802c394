package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/drover-dev/drover"
)

// holdCommitter makes the committer run a call that waits for release, and
// returns once it runs: calls made meanwhile queue up and form one group.
func holdCommitter(t *testing.T, s *Store) (release func(), done <-chan error) {
	t.Helper()
	running, rel := make(chan struct{}), make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- s.write(t.Context(), func(*session) error { close(running); <-rel; return nil })
	}()
	<-running
	return func() { close(rel) }, errc
}

// waitQueued waits until n calls are queued behind the held one.
func waitQueued(s *Store, n int) {
	for len(s.commits.calls) < n {
		runtime.Gosched()
	}
}

func insertWorker(x *session, id string) error {
	_, err := x.exec(qInsertWorker, id, id, "{}", "[]", 1000, 1024, 1, "{}", "", 1, 1, []byte("h"), 0)
	return err
}

func workerExists(t *testing.T, s *Store, id string) bool {
	t.Helper()
	_, err := s.GetWorker(t.Context(), id)
	if err != nil && !drover.IsCode(err, drover.ENOTFOUND) {
		t.Fatal(err)
	}
	return err == nil
}

// TestGroupCommitIsolatesFailures queues calls into one group, some of
// which write and then fail: each failure undoes only its own writes, the
// others commit, and every call gets its own answer.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "drover.db"))
	defer s.Close()
	release, held := holdCommitter(t, s)

	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.write(t.Context(), func(x *session) error {
				if err := insertWorker(x, fmt.Sprintf("w%02d", i)); err != nil {
					return err
				}
				if i%3 == 0 {
					return drover.Errorf(drover.EINVALID, "call %d fails after writing", i)
				}
				return nil
			})
		}()
	}
	// A duplicate of a row written earlier in the same group conflicts.
	wg.Add(1)
	var dupErr error
	go func() {
		defer wg.Done()
		waitQueued(s, n)
		dupErr = s.write(t.Context(), func(x *session) error { return insertWorker(x, "w01") })
	}()
	waitQueued(s, n+1)
	release()
	wg.Wait()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	for i := range n {
		id := fmt.Sprintf("w%02d", i)
		if i%3 == 0 {
			if !drover.IsCode(errs[i], drover.EINVALID) {
				t.Errorf("call %d: %v, want its own EINVALID", i, errs[i])
			}
			if workerExists(t, s, id) {
				t.Errorf("call %d failed but its write was kept", i)
			}
			continue
		}
		if errs[i] != nil {
			t.Errorf("call %d: %v", i, errs[i])
		}
		if !workerExists(t, s, id) {
			t.Errorf("call %d succeeded but its write is missing", i)
		}
	}
	if !drover.IsCode(dupErr, drover.ECONFLICT) {
		t.Errorf("duplicate insert in the same group: %v, want ECONFLICT", dupErr)
	}
}

// TestGroupCommitBrokenTransaction: a call that leaves its savepoint
// unusable breaks the group's transaction; it fails and the other calls run
// again in a new one, each committed once.
func TestGroupCommitBrokenTransaction(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "drover.db"))
	defer s.Close()
	release, held := holdCommitter(t, s)

	var wg sync.WaitGroup
	errs := make([]error, 3)
	ids := []string{"before", "breaker", "after"}
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			waitQueued(s, i)
			errs[i] = s.write(t.Context(), func(x *session) error {
				if err := insertWorker(x, id); err != nil {
					return err
				}
				if id == "breaker" {
					// Releasing the savepoint here makes ROLLBACK TO fail.
					if _, err := x.exec(qRelease); err != nil {
						return err
					}
					return errors.New("broke the group")
				}
				return nil
			})
		}()
		waitQueued(s, i+1)
	}
	release()
	wg.Wait()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if errs[1] == nil || errs[0] != nil || errs[2] != nil {
		t.Fatalf("errors = %v, want only the breaker's", errs)
	}
	for _, id := range []string{"before", "after"} {
		if !workerExists(t, s, id) {
			t.Errorf("%s was not committed after the retry", id)
		}
	}
	if workerExists(t, s, "breaker") {
		t.Error("the breaker's write was kept")
	}
}

// TestGroupCommitSkipsAbandonedCalls: a call whose context ends while it
// waits for its turn is not run.
func TestGroupCommitSkipsAbandonedCalls(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "drover.db"))
	defer s.Close()
	release, held := holdCommitter(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	ran := false
	go func() {
		errc <- s.write(ctx, func(x *session) error { ran = true; return insertWorker(x, "late") })
	}()
	waitQueued(s, 1)
	cancel()
	release()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("abandoned call: %v, want context.Canceled", err)
	}
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if ran || workerExists(t, s, "late") {
		t.Error("a call abandoned before its turn was run")
	}
}

// TestCloseAnswersQueuedCalls: Close waits for the calls already queued;
// calls after it fail with EUNAVAILABLE.
func TestCloseAnswersQueuedCalls(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "drover.db"))
	release, held := holdCommitter(t, s)
	errc := make(chan error, 1)
	go func() { errc <- s.write(t.Context(), func(x *session) error { return insertWorker(x, "queued") }) }()
	waitQueued(s, 1)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	release()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil && !drover.IsCode(err, drover.EUNAVAILABLE) {
		t.Errorf("queued call at Close: %v, want nil or EUNAVAILABLE", err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if err := s.write(t.Context(), func(*session) error { return nil }); !drover.IsCode(err, drover.EUNAVAILABLE) {
		t.Errorf("write after Close: %v, want EUNAVAILABLE", err)
	}
}

// TestLazyCallsShareACommit: lazy calls alone wait for company, and the
// first call that is not lazy ends the wait at once (with the wait set to
// an hour, the test would hang otherwise).
func TestLazyCallsShareACommit(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "drover.db"))
	defer s.Close()
	s.commits.wait = time.Hour

	var (
		mu  sync.Mutex
		txs = map[string]any{}
	)
	call := func(name string, lazy bool) <-chan error {
		errc := make(chan error, 1)
		fn := func(x *session) error {
			mu.Lock()
			txs[name] = x.tx
			mu.Unlock()
			return insertWorker(x, name)
		}
		go func() {
			if lazy {
				errc <- s.writeLazy(t.Context(), fn)
			} else {
				errc <- s.write(t.Context(), fn)
			}
		}()
		return errc
	}
	release, held := holdCommitter(t, s)
	a := call("lazy-a", true)
	b := call("lazy-b", true)
	waitQueued(s, 2)
	release()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	// a and b are taken, and wait in the committer for company.
	waitTaken(s)
	select {
	case err := <-a:
		t.Fatalf("lazy calls alone committed at once (%v)", err)
	default:
	}
	c := call("eager", false)
	for name, errc := range map[string]<-chan error{"lazy-a": a, "lazy-b": b, "eager": c} {
		if err := <-errc; err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if txs["lazy-a"] != txs["lazy-b"] || txs["lazy-b"] != txs["eager"] {
		t.Fatal("the lazy calls and the eager one did not share a transaction")
	}
	for _, id := range []string{"lazy-a", "lazy-b", "eager"} {
		if !workerExists(t, s, id) {
			t.Fatalf("%s was not committed", id)
		}
	}
}

// waitTaken waits until the committer has taken every queued call.
func waitTaken(s *Store) {
	for len(s.commits.calls) > 0 {
		runtime.Gosched()
	}
}
