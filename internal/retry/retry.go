// Package retry runs a call again after it fails.
//
// The wait between tries starts at a first wait and doubles up to a cap.
// Jitter spreads each wait, so a fleet that lost its coordinator does not
// come back in step. The caller says which errors are final: a 4xx answer
// is, so it passes client.Temporary. Every wait ends when its context ends.
//
// Use [Do] for a call that is tried until it succeeds. Use a [Backoff] on
// its own for a loop that goes on after a success, such as a long-poll.
package retry

import (
	"context"
	"math"
	"math/rand/v2"
	"time"
)

// Backoff is the waits of one retry loop. Copy a Backoff value to start a
// loop: each copy counts its own failures.
type Backoff struct {
	// First is the wait after the first failure.
	First time.Duration
	// Max caps every wait. Zero means no cap.
	Max time.Duration
	// Jitter spreads each wait by up to a fifth either way.
	Jitter bool
	// After returns a channel that receives once d has passed. Nil means
	// time.After. Tests pass one that records the waits.
	After func(d time.Duration) <-chan time.Time

	failures int
}

// Delay is the wait after n failures in a row, before jitter. It is First
// for the first failure, and doubles with each further one up to Max.
func (b *Backoff) Delay(n int) time.Duration {
	d := b.First
	for range max(n-1, 0) {
		if b.Max > 0 && d >= b.Max || d > math.MaxInt64/2 {
			break
		}
		d *= 2
	}
	if b.Max > 0 {
		d = min(d, b.Max)
	}
	return d
}

// Next counts a failure and returns the wait before the next try.
func (b *Backoff) Next() time.Duration {
	b.failures++
	d := b.Delay(b.failures)
	if b.Jitter {
		d = Jitter(d)
	}
	return d
}

// Reset starts the waits again from First. A loop calls it after a
// success.
func (b *Backoff) Reset() { b.failures = 0 }

// Sleep waits d. It returns ctx's error when ctx ends first.
func (b *Backoff) Sleep(ctx context.Context, d time.Duration) error {
	after := b.After
	if after == nil {
		after = time.After
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-after(d):
		return nil
	}
}

// Policy says how Do retries a call.
type Policy struct {
	Backoff
	// Tries bounds the calls. Zero means no bound.
	Tries int
	// Retryable reports whether an error may go away on another try. Nil
	// means every error may.
	Retryable func(error) bool
	// OnRetry, when set, hears each error that is retried and the wait
	// before the next try.
	OnRetry func(err error, wait time.Duration)
}

// Do calls op until it succeeds, and then returns nil. It returns op's
// last error when Retryable refuses it or the tries run out. It returns
// ctx's error when ctx ends, whether after a failed call or in a wait.
// Each call of Do starts from p's first wait.
func Do(ctx context.Context, p Policy, op func(context.Context) error) error {
	p.Reset()
	for try := 1; ; try++ {
		err := op(ctx)
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case p.Tries > 0 && try >= p.Tries:
			return err
		case p.Retryable != nil && !p.Retryable(err):
			return err
		}
		wait := p.Next()
		if p.OnRetry != nil {
			p.OnRetry(err, wait)
		}
		if err := p.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// Jitter spreads d by up to a fifth either way. Polls and heartbeats wait
// with it too, so a fleet does not beat in step.
func Jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d - d/5 + time.Duration(rand.Int64N(int64(d/5)*2+1))
}
